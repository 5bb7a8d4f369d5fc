"""Drift rejection benchmark: how soon a 1M-row parcels CSV whose type change is rejected ends FAILED_DRIFT.

The anchor is the successful load of the valid file of the same size, on the same running server, in
the same run. Usage: python benchmarks/bench_drift_reject.py [--rows N] [--late-fraction F]
See benchmarks/README.md for what is measured and how to read the result.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_ingest import (
    BENCH_DB,
    DEFAULT_URL,
    OUT,
    BenchError,
    bench_main,
    describe_machine,
    ensure_file,
    ensure_psql,
    eventpulse_command,
    free_port,
    fresh_database,
    http,
    run_psql,
    wait_until,
    with_database,
)

from eventpulse.demo.generator import MAX_ROWS, write_case

TARGET_RATIO = 0.10
"""Issue 6: a file whose type change shows early ends in under 10% of the time its load takes."""
RUNNING = ("RECEIVED", "PROCESSING")


def ensure_type_change_file(rows: int) -> Path:
    """The demo ``type_change`` CSV: ``sale_price`` is currency text (``$221,746.62``) from row 1."""
    path = OUT / f"parcels_type_change_{rows}.csv"
    if not path.exists():
        generated = write_case("parcels", "type_change", "csv", OUT / "tmp", rows=rows)
        generated.replace(path)
        generated.parent.rmdir()
    return path


def ensure_late_change_file(valid: Path, changed: Path, rows: int, first_changed: int) -> Path:
    """Rows 1..first_changed-1 of the valid file, then the type-change file's rows from there on.

    The demo generator draws the same values in every case, so the two files differ only in
    ``sale_price``: the result is the valid file whose prices turn into currency text late.
    """
    path = OUT / f"parcels_type_change_from_{first_changed}_of_{rows}.csv"
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".part")
    with valid.open("rb") as good, changed.open("rb") as bad, tmp.open("wb") as out:
        for line_number, (good_line, bad_line) in enumerate(zip(good, bad, strict=True)):
            out.write(bad_line if line_number >= first_changed else good_line)  # line 0 is the header
    tmp.replace(path)
    return path


@contextmanager
def running_server(admin_url: str) -> Iterator[str]:
    """``eventpulse serve`` on the bench database, ready and warmed up by one small ingestion."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="eventpulse-bench-") as data_dir:
        env = {
            **os.environ,
            "DATABASE_URL": with_database(admin_url, BENCH_DB, scheme="postgresql+pg8000"),
            "EVENTPULSE_DATA_DIR": data_dir,
            "EVENTPULSE_AUTH_DISABLED": "true",
            "EVENTPULSE_HTTP_PORT": str(port),
            "EVENTPULSE_RECLAIM_INTERVAL_SECONDS": "0",
        }
        with open(Path(data_dir) / "serve.log", "w") as log:
            server = subprocess.Popen([*eventpulse_command(), "serve"], env=env, stdout=log, stderr=log)
            try:
                wait_until(
                    lambda: http("GET", f"{base}/readyz").get("status") == "ready", 120, "server start"
                )
                warm = write_case("edge_telemetry", "baseline", "csv", Path(data_dir), rows=50)
                done = upload_until_finished(base, warm, "edge_telemetry")
                if done["status"] != "LOADED":
                    raise BenchError(f"the warm-up ingestion ended {done['status']}; see {log.name}")
                yield base
            finally:
                server.terminate()
                server.wait(timeout=60)


def upload_until_finished(base: str, file: Path, dataset: str = "parcels") -> dict[str, Any]:
    """Upload ``file``, poll until its ingestion leaves RECEIVED/PROCESSING; time both."""
    started = time.perf_counter()
    with file.open("rb") as fh:
        created = http("POST", f"{base}/api/ingest/upload?dataset={dataset}&filename={file.name}", fh)
    uploaded = time.perf_counter()
    url = f"{base}/api/ingestions/{created['id']}"
    while (status := str(http("GET", url)["status"])) in RUNNING:
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    detail = http("GET", url)
    return {
        "status": status,
        "seconds": round(seconds, 3),
        "upload_seconds": round(uploaded - started, 3),
        "after_upload_seconds": round(seconds - (uploaded - started), 3),
        "rows_processed": detail.get("rows_processed"),
        "reason": (detail.get("error") or {}).get("message"),
        "decided": (detail.get("drift") or {}).get("decided"),
    }


def ensure_outcome(step: dict[str, Any], expected: str, what: str) -> None:
    if step["status"] != expected:
        raise BenchError(f"{what} ended {step['status']}, expected {expected}: {step['reason']}")


def measure(admin_url: str, psql: str, files: dict[str, Path], rows: int) -> dict[str, Any]:
    """Both rejected files first (the table is still empty), then the valid file's load."""
    result: dict[str, Any] = {}
    with running_server(admin_url) as base:
        for key in ("rejected_early", "rejected_late"):
            result[key] = upload_until_finished(base, files[key])
            ensure_outcome(result[key], "FAILED_DRIFT", key)
        result["load"] = upload_until_finished(base, files["load"])
        ensure_outcome(result["load"], "LOADED", "the valid file")
    count = int(run_psql(psql, with_database(admin_url, BENCH_DB), "SELECT count(*) FROM curated_parcels"))
    if count != rows:  # the rejected files must have loaded nothing
        raise BenchError(f"curated_parcels holds {count:,} rows after the runs, expected {rows:,}")
    for key in ("rejected_early", "rejected_late"):
        load = result["load"]
        result[f"ratio_{key}"] = round(result[key]["seconds"] / load["seconds"], 3)
        result[f"ratio_{key}_after_upload"] = round(
            result[key]["after_upload_seconds"] / load["after_upload_seconds"], 3
        )
    result["target_ratio"] = TARGET_RATIO
    result["target_met"] = result["ratio_rejected_early"] < TARGET_RATIO
    return result


def print_table(result: dict[str, Any]) -> None:
    line = "{:<44} {:>9} {:>13} {:>15}"
    print()
    print(line.format("run (warm server)", "seconds", "after upload", "rows processed"))
    labels = {
        "load": "valid file: upload -> LOADED",
        "rejected_early": "currency sale_price from row 1 -> FAILED_DRIFT",
        "rejected_late": f"currency from row {result['file']['first_changed_row']:,} -> FAILED_DRIFT",
    }
    for key, label in labels.items():
        step = result[key]
        processed = "-" if step["rows_processed"] is None else f"{step['rows_processed']:,}"
        print(line.format(label, f"{step['seconds']:.2f}", f"{step['after_upload_seconds']:.2f}", processed))
    for key in ("rejected_early", "rejected_late"):
        print(
            f"ratio {key} / load = {result[f'ratio_{key}']:.3f} "
            f"(after upload: {result[f'ratio_{key}_after_upload']:.3f})"
        )
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"target: rejected early < {TARGET_RATIO:.0%} of the load, end to end: {verdict}")
    print(
        f"load average (1, 5, 15 min) before / after: {result['loadavg_before']} / {result['loadavg_after']}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="parcels rows (default 1,000,000)")
    parser.add_argument(
        "--late-fraction",
        type=float,
        default=0.9,
        help="where the late variant's currency text starts, as a fraction of the rows (default 0.9)",
    )
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.rows <= MAX_ROWS:
        raise BenchError(f"--rows must be between 1 and {MAX_ROWS:,}")
    if not 0 < args.late_fraction < 1:
        raise BenchError("--late-fraction must be between 0 and 1 (exclusive)")
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    valid, _ = ensure_file(args.rows)
    early = ensure_type_change_file(args.rows)
    first_changed = max(1, int(args.rows * args.late_fraction))
    late = ensure_late_change_file(valid, early, args.rows, first_changed)
    files = {"load": valid, "rejected_early": early, "rejected_late": late}
    result: dict[str, Any] = {
        "machine": describe_machine(psql, args.database_url),
        "file": {
            "rows": args.rows,
            "mb": round(valid.stat().st_size / 1e6, 1),
            "first_changed_row": first_changed,
        },
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    fresh_database(psql, args.database_url)
    try:
        result.update(measure(args.database_url, psql, files, args.rows))
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "drift-reject")


if __name__ == "__main__":
    raise SystemExit(main())

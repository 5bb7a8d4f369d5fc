"""dlt anchor: the 1M-row parcels CSV merged on ``parcel_id`` into Postgres, by dlt and by EventPulse.

In one run, each on a fresh database: ``psql \\copy`` (the floor, before and after), the one-shot
``eventpulse ingest`` process and the warm ``eventpulse serve`` (as bench_ingest.py measures them),
then dlt twice, each as a whole process (benchmarks/dlt_load.py) in a virtual environment of its own
made once from the hashed lock requirements-dlt.txt under benchmarks/out/dlt-venv:

- ``dlt_default``: a resource yielding ``csv.DictReader`` dicts, dlt's default file format
  (``insert_values`` for Postgres), ``write_disposition="merge"``, ``primary_key="parcel_id"``;
- ``dlt_fastest``: pyarrow tables read from the CSV in blocks, ``loader_file_format="parquet"``, which
  dlt loads into Postgres through ADBC (``adbc_ingest``, binary COPY), same merge;
- ``dlt_csv``: the same tables with ``loader_file_format="csv"`` (dlt's ``COPY`` of csv files), to know
  which of dlt's two bulk paths is the faster here; reported, not a target.

Each dlt load must leave exactly ``--rows`` rows in ``dlt_bench.parcels``; which path ran is taken
from dlt itself (the file formats of its completed load jobs, and its ADBC job log lines).

Usage: python benchmarks/bench_dlt.py [--rows N] [--database-url URL] [--skip-eventpulse]
Target (issue 9): EventPulse at least 3x faster than dlt's default, and faster than its fastest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from bench_ingest import (
    BENCH_DB,
    DEFAULT_URL,
    OUT,
    BenchError,
    bench_main,
    describe_machine,
    ensure_file,
    ensure_psql,
    fresh_database,
    measure_anchor,
    measure_eventpulse,
    measure_warm_server,
    print_steps,
    run_psql,
    with_database,
)

from eventpulse.demo.generator import MAX_ROWS

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE.parent / "requirements-dlt.txt"
"""The hashed lock of requirements-dlt.in (`make lock`): every package of the dlt venv, pinned."""
LOADER = HERE / "dlt_load.py"
VENV = OUT / "dlt-venv"
MODES = ("default", "fastest", "csv")
TARGET_DEFAULT = 1 / 3
"""Issue 9: EventPulse at least 3x faster than dlt's default configuration (eventpulse / dlt <= 1/3)."""
TARGET_FASTEST = 1.0
"""Issue 9: EventPulse faster than dlt's fastest configuration (eventpulse / dlt <= 1)."""
ADBC_LINE = re.compile(r"_adbc_jobs\.py\|run:\d+\|(\d+) rows copied from (\S+)")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> dict[str, Any]:
    """The dlt virtual environment, made (or remade) when the lock changed; the versions it holds."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / "requirements.sha256"
    seconds = None
    if not (venv_python().exists() and stamp.exists() and stamp.read_text() == digest):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        done = subprocess.run(
            [*pip, "--require-hashes", "-r", str(REQUIREMENTS)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise BenchError(f"pip could not install {REQUIREMENTS.name}: {done.stderr.strip()[-2000:]}")
        stamp.write_text(digest)
        seconds = round(time.perf_counter() - started, 1)
    show = (
        "import dlt, pyarrow, adbc_driver_postgresql as a;"
        " print(dlt.__version__, pyarrow.__version__, a.__version__)"
    )
    versions = subprocess.run([str(venv_python()), "-c", show], capture_output=True, text=True, check=True)
    dlt_version, pyarrow_version, adbc_version = versions.stdout.split()
    return {
        "venv": str(VENV.relative_to(HERE.parent)),
        "requirements": str(REQUIREMENTS.relative_to(HERE.parent)),
        "install_seconds": seconds,
        "dlt": dlt_version,
        "pyarrow": pyarrow_version,
        "adbc_driver_postgresql": adbc_version,
    }


def measure_dlt(mode: str, psql: str, admin_url: str, file: Path, rows: int) -> dict[str, Any]:
    """One dlt load as a whole process, timed from start to exit; the path it took and the rows it left."""
    with tempfile.TemporaryDirectory(prefix="dlt-bench-") as work:
        env = {
            **os.environ,
            "RUNTIME__DLTHUB_TELEMETRY": "false",  # no network here, and no extra work in the timing
            "RUNTIME__LOG_LEVEL": "INFO",  # the ADBC job logs the rows it copied: evidence of the path
        }
        log_path = Path(work) / "dlt.log"
        args = [str(venv_python()), str(LOADER), mode, str(file), with_database(admin_url, BENCH_DB), work]
        with log_path.open("w") as log:
            started = time.perf_counter()
            child = subprocess.Popen(args, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
            peak = _poll_peak_rss(child, timeout=3600)
            seconds = time.perf_counter() - started
        output = log_path.read_text()
    found = [line for line in output.splitlines() if line.startswith("DLT_RESULT ")]
    if child.returncode != 0 or not found:
        print(output[-3000:], file=sys.stderr)
        raise BenchError(f"the dlt {mode} load exited {child.returncode}; its output is above")
    reported = json.loads(found[-1].removeprefix("DLT_RESULT "))
    adbc = [(int(n), name) for n, name in ADBC_LINE.findall(output)]
    count = int(
        run_psql(psql, with_database(admin_url, BENCH_DB), f"SELECT count(*) FROM {reported['table']}")
    )
    if count != rows:
        raise BenchError(f"dlt {mode} left {count:,} rows in {reported['table']}, expected {rows:,}")
    schema, table = reported["table"].split(".")
    return {
        "seconds": round(seconds, 3),
        "rows": count,
        "peak_rss_mb": round(peak / 2**20, 1),
        **describe_table(psql, admin_url, schema, table),
        "load_job_formats": reported["load_job_formats"],
        "adbc_rows_copied": sum(n for n, _ in adbc),
        "adbc_jobs": len(adbc),
        "normalized_rows": reported["normalized_rows"],
    }


def describe_table(psql: str, admin_url: str, schema: str, table: str) -> dict[str, str]:
    """The column types and the indexes of a loaded table: what each tool actually built."""
    where = f"table_schema = '{schema}' AND table_name = '{table}'"
    lines = run_psql(
        psql,
        with_database(admin_url, BENCH_DB),
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)"
        f" FROM information_schema.columns WHERE {where}",
        "SELECT coalesce(string_agg(indexdef, '; '), 'none') FROM pg_indexes"
        f" WHERE schemaname = '{schema}' AND tablename = '{table}'",
    ).splitlines()
    return {"columns": lines[0], "indexes": lines[1]}


def _poll_peak_rss(child: subprocess.Popen[bytes], timeout: float) -> int:
    tree = psutil.Process(child.pid)
    peak = 0
    deadline = time.monotonic() + timeout
    while child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            raise BenchError(f"the dlt load did not finish within {timeout:g}s")
        try:
            peak = max(peak, sum(p.memory_info().rss for p in (tree, *tree.children(recursive=True))))
        except psutil.Error:
            pass  # it exited between poll() and the read
        time.sleep(0.05)
    return peak


def path_taken(step: dict[str, Any], rows: int) -> str:
    """What dlt did, from its own load jobs: the name the docs and the table use."""
    formats = set(step["load_job_formats"]) - {"sql"}  # "sql" jobs are the merge statements
    if formats == {"parquet"} and step["adbc_rows_copied"] == rows:
        return "parquet through ADBC (adbc_ingest, binary COPY)"
    if formats == {"csv"}:
        return "csv through COPY"
    return ", ".join(sorted(formats)) or "none"


def summarise(steps: dict[str, Any]) -> dict[str, Any]:
    """The ratios of one run from its measured steps (each a dict with ``seconds``)."""
    seconds = {name: float(step["seconds"]) for name, step in steps.items()}
    copy = (seconds["anchor_copy"] + seconds.get("anchor_copy_after", seconds["anchor_copy"])) / 2
    ratios: dict[str, float] = {}
    for mode in (m for m in MODES if f"dlt_{m}" in seconds):
        dlt = seconds[f"dlt_{mode}"]
        ratios[f"dlt_{mode}_vs_copy"] = round(dlt / copy, 2)
        for name, key in (("eventpulse", "cold"), ("eventpulse_server", "server")):
            if name in seconds:
                ratios[f"dlt_{mode}_vs_eventpulse_{key}"] = round(dlt / seconds[name], 2)
                ratios[f"eventpulse_{key}_vs_dlt_{mode}"] = round(seconds[name] / dlt, 3)
    # dlt's fastest is whichever of its bulk paths (parquet/ADBC, csv COPY) was the faster in this run.
    bulk = {m: seconds[f"dlt_{m}"] for m in ("fastest", "csv") if f"dlt_{m}" in seconds}
    best = min(bulk, key=bulk.__getitem__)
    for name, key in (("eventpulse", "cold"), ("eventpulse_server", "server")):
        if name in seconds:
            ratios[f"eventpulse_{key}_vs_copy"] = round(seconds[name] / copy, 2)
            ratios[f"eventpulse_{key}_vs_dlt_best"] = round(seconds[name] / bulk[best], 3)
    return {
        **steps,
        "copy_seconds_mean": round(copy, 3),
        "dlt_best": f"dlt_{best}",
        "ratios": ratios,
        "targets": {
            "eventpulse_cold_vs_dlt_default_at_most": round(TARGET_DEFAULT, 3),
            "eventpulse_cold_vs_dlt_best_at_most": TARGET_FASTEST,
        },
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="parcels rows (default 1,000,000)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    parser.add_argument("--skip-eventpulse", action="store_true", help="measure psql and dlt only")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.rows <= MAX_ROWS:
        raise BenchError(f"--rows must be between 1 and {MAX_ROWS:,}")
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    dlt = ensure_venv()
    file, generation_seconds = ensure_file(args.rows)
    head: dict[str, Any] = {
        "machine": describe_machine(psql, args.database_url),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "file": {"path": str(file), "rows": args.rows, "mb": round(file.stat().st_size / 1e6, 1)},
        "generation_seconds": None if generation_seconds is None else round(generation_seconds, 2),
        "dlt": dlt,
    }
    steps: dict[str, Any] = {}
    try:
        fresh_database(psql, args.database_url)
        steps["anchor_copy"] = measure_anchor(psql, args.database_url, file)
        if not args.skip_eventpulse:
            steps["eventpulse"] = measure_eventpulse(psql, args.database_url, file, args.rows)
            fresh_database(psql, args.database_url)
            steps["eventpulse_server"] = measure_warm_server(psql, args.database_url, file, args.rows)
            head["eventpulse_table"] = describe_table(psql, args.database_url, "public", "curated_parcels")
        for mode in MODES:
            fresh_database(psql, args.database_url)
            step = measure_dlt(mode, psql, args.database_url, file, args.rows)
            steps[f"dlt_{mode}"] = {**step, "path": path_taken(step, args.rows)}
        fresh_database(psql, args.database_url)
        steps["anchor_copy_after"] = measure_anchor(psql, args.database_url, file)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    return {**head, **summarise(steps), "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def print_table(result: dict[str, Any]) -> None:
    labels = {
        "anchor_copy": "psql \\copy, typed table + PK",
        "eventpulse": "eventpulse ingest --wait (one-shot process)",
        "eventpulse_server": "eventpulse serve: upload -> LOADED (warm)",
        "dlt_default": "dlt default (dicts, insert_values), merge",
        "dlt_fastest": "dlt fastest (arrow, parquet/ADBC), merge",
        "dlt_csv": "dlt arrow -> csv files, COPY, merge",
        "anchor_copy_after": "psql \\copy again, after the runs",
    }
    print_steps(result, labels, width=46)
    for mode in (m for m in MODES if f"dlt_{m}" in result):
        print(f"dlt {mode} path: {result[f'dlt_{mode}']['path']}")
    for name, value in result["ratios"].items():
        print(f"{name} = {value}")
    print(f"load average before {result['load_average_before']}, after {result['load_average_after']}")


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "dlt")


if __name__ == "__main__":
    raise SystemExit(main())

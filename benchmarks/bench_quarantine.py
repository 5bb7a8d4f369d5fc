"""Row-quarantine benchmark: what holding back a share of a file's rows costs next to a clean load.

Anchor: the same pipeline, in the same process and database, loading a file of the same size whose
rows all pass. Measured: the file with ``--bad-fraction`` of rows failing a quarantine expectation
(held back: complete failing-row lists from GX, a second read for their values, exclusion from the
load, the quarantine records). Runs alternate (anchor, quarantine, anchor, quarantine, ...) so that
the shared machine's drift hits both. Usage:

    python benchmarks/bench_quarantine.py [--rows N] [--bad-fraction F] [--repeats K]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_ingest import BENCH_DB, DEFAULT_URL, OUT, describe_machine, ensure_psql, run_psql, with_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventpulse.bootstrap import build_services  # noqa: E402
from eventpulse.landing.register import register_path  # noqa: E402
from eventpulse.settings import Settings  # noqa: E402
from tests.integration.quarantine_support import DATASET, write_readings_contract  # noqa: E402


def write_file(path: Path, rows: int, bad_every: int | None, tag: str) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("id,kind,value\n")
        for i in range(1, rows + 1):
            value = 500 if bad_every and i % bad_every == 0 else i % 100
            out.write(f"{tag}-{i},{'ab'[i % 2]},{value}\n")
    return path


def time_ingest(services: Any, path: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    registration = register_path(services, path=path, dataset=DATASET, source="bench", actor="bench")
    elapsed = time.perf_counter() - started
    with services.store.read() as tx:
        row = tx.ingestions.get(registration.ingestion["id"])
    assert row is not None
    return elapsed, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--bad-fraction", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    psql = ensure_psql()
    run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB}", f"CREATE DATABASE {BENCH_DB}")
    bad_every = round(1 / args.bad_fraction)
    results: dict[str, list[float]] = {"anchor": [], "quarantine": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            contracts = work / "contracts"
            contracts.mkdir()
            write_readings_contract(contracts, mostly=0.5)
            settings = Settings(
                data_dir=work / "data",
                database_url=with_database(args.database_url, BENCH_DB, "postgresql+pg8000"),
                contracts_dir=contracts,
                auth_disabled=True,
            )
            services = build_services(settings)
            time_ingest(services, write_file(work / "warm.csv", 10, None, "warm"))  # imports, DDL
            for k in range(args.repeats):
                for name, every in (("anchor", None), ("quarantine", bad_every)):
                    path = write_file(work / f"{name}-{k}.csv", args.rows, every, f"{name}{k}")
                    elapsed, row = time_ingest(services, path)
                    expected = "LOADED" if every is None else "PARTIALLY_LOADED"
                    assert row["status"] == expected, row
                    results[name].append(elapsed)
                    print(f"{name:10s} {elapsed:7.2f} s  held {row['rows_quarantined']}", flush=True)
            services.close()
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB}")
    anchor, held = statistics.median(results["anchor"]), statistics.median(results["quarantine"])
    report = {
        "machine": describe_machine(psql, args.database_url),
        "date": datetime.now(UTC).isoformat(),
        "rows": args.rows,
        "bad_fraction": args.bad_fraction,
        "runs": results,
        "median_anchor_s": round(anchor, 3),
        "median_quarantine_s": round(held, 3),
        "ratio": round(held / anchor, 3),
    }
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"quarantine-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(f"median anchor {anchor:.2f} s, quarantine {held:.2f} s, ratio {held / anchor:.2f}")


if __name__ == "__main__":
    main()

"""Scale: the parcels CSV at 1M and at 10M rows (about 2 GB), one-shot ``eventpulse ingest``, side by side.

Issue 9 part 3: "a 10M-row CSV (about 2 GB) loads with peak RSS under 1 GB (the same as at 1M:
bounded, not linear) and time within 10% of linear". The 10M file is the cached 1M file of
``bench_ingest.py`` ten times over, each copy's ``parcel_id`` given a suffix of its own so every key is
new (the generator stops at 1M rows). Each size is loaded into a fresh database by the same command
``bench_ingest.py`` times (``eventpulse ingest --wait --local``, peak RSS polled over the process tree),
and ``psql \\copy`` of each file into a typed, keyed table is the anchor, in the same run.

Usage: python benchmarks/bench_scale.py [--copies 10] [--database-url URL]
Writes benchmarks/out/scale-<UTC>.json; figures in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import time
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
    fresh_database,
    measure_anchor,
    measure_eventpulse,
    run_psql,
)

BASE_ROWS = 1_000_000
RSS_TARGET_MB = 1024.0
LINEAR_SLACK = 1.10
COPY_HEADING = "psql \\copy s"


def ensure_copies(base: Path, copies: int) -> tuple[Path, float | None]:
    """``copies`` copies of ``base`` as one CSV, every ``parcel_id`` made unique by a suffix."""
    path = OUT / f"parcels_{BASE_ROWS}x{copies}.csv"
    if path.exists():
        return path, None
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="") as out:
        writer = csv.writer(out)
        for copy in range(copies):
            with base.open(newline="") as source:
                reader = csv.reader(source)
                header = next(reader)
                key = header.index("parcel_id")
                if copy == 0:
                    writer.writerow(header)
                for row in reader:
                    row[key] = f"{row[key]}-{copy}"
                    writer.writerow(row)
    partial.replace(path)
    return path, time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    psql = ensure_psql()
    base, _ = ensure_file(BASE_ROWS)
    big, built = ensure_copies(base, args.copies)
    result: dict[str, Any] = {
        "machine": describe_machine(psql, args.database_url),
        "copies": args.copies,
        "build_seconds": None if built is None else round(built, 1),
        "sizes": {},
    }
    try:
        for label, file, rows in (("1M", base, BASE_ROWS), (f"{args.copies}M", big, BASE_ROWS * args.copies)):
            fresh_database(psql, args.database_url)
            anchor = measure_anchor(psql, args.database_url, file)
            fresh_database(psql, args.database_url)
            loaded = measure_eventpulse(psql, args.database_url, file, rows)
            result["sizes"][label] = {
                "rows": rows,
                "mb": round(file.stat().st_size / 1e6, 1),
                "anchor_copy": anchor,
                "eventpulse": loaded,
                "ratio_to_copy": round(loaded["seconds"] / anchor["seconds"], 2),
            }
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    small, large = result["sizes"]["1M"], result["sizes"][f"{args.copies}M"]
    result["time_vs_linear"] = round(
        large["eventpulse"]["seconds"] / (args.copies * small["eventpulse"]["seconds"]), 3
    )
    result["peak_rss_mb"] = large["eventpulse"]["peak_rss_mb"]
    result["targets"] = {"peak_rss_mb_at_most": RSS_TARGET_MB, "time_vs_linear_at_most": LINEAR_SLACK}
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"{'size':<6} {'MB':>8} {COPY_HEADING:>13} {'eventpulse s':>13} {'ratio':>6} {'peak RSS MB':>12}")
    for label, size in result["sizes"].items():
        print(
            f"{label:<6} {size['mb']:>8.0f} {size['anchor_copy']['seconds']:>13.2f} "
            f"{size['eventpulse']['seconds']:>13.2f} {size['ratio_to_copy']:>6.2f} "
            f"{size['eventpulse']['peak_rss_mb']:>12.0f}"
        )
    copies, rss = result["copies"], result["peak_rss_mb"]
    print(
        f"time at {copies}M / ({copies} x time at 1M) = {result['time_vs_linear']:.3f}"
        f" (target <= {LINEAR_SLACK})"
    )
    print(f"peak RSS at {copies}M: {rss:.0f} MB (target < {RSS_TARGET_MB:.0f})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of the 1M-row file (default 10)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    return parser


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "scale")


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        raise SystemExit(f"error: {exc}") from None

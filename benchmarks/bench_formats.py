"""Formats benchmark: 1M parcels records as NDJSON, end to end, against ``psql \\copy`` of the same CSV.

Usage: python benchmarks/bench_formats.py [--rows N] [--database-url URL] [--skip-server] [--skip-reader]
See benchmarks/README.md ("bench_formats.py") for what is measured and how to read the result.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
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
)

from eventpulse.demo.generator import MAX_ROWS

TARGET_RATIO = 2.5
"""Issue 9: NDJSON end to end at most 2.5x psql \\copy of the equivalent CSV."""

# The parcels contract's number and integer columns: JSON numbers in the NDJSON; the rest stay text.
FLOAT_COLUMNS = ("lat", "lon", "sale_price", "bathrooms", "assessed_value")
INT_COLUMNS = ("year_built", "bedrooms", "building_sqft", "lot_sqft")


def ensure_ndjson(csv_file: Path) -> tuple[Path, float | None]:
    """The NDJSON twin of ``csv_file`` (same records, numbers as JSON numbers, empty fields null)."""
    path = csv_file.with_suffix(".ndjson")
    if path.exists():
        return path, None
    started = time.perf_counter()
    header = pacsv.read_csv(csv_file, read_options=pacsv.ReadOptions(block_size=1 << 20)).schema.names
    types = {c: pa.float64() if c in FLOAT_COLUMNS else pa.int64() if c in INT_COLUMNS else pa.string()
             for c in header}  # fmt: skip
    reader = pacsv.open_csv(
        csv_file,
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, null_values=[""]),
    )
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as fh:
        for batch in reader:
            fh.writelines(json.dumps(record) + "\n" for record in batch.to_pylist())
    tmp.replace(path)
    return path, time.perf_counter() - started


def measure_reader(file: Path, *, columnar: bool) -> dict[str, Any]:
    """JsonSource alone, in this process: open (first pass) and every batch (second pass)."""
    from eventpulse.parse.json_reader import JsonSource
    from eventpulse.parse.source import ReadOptions

    started = time.perf_counter()
    source = JsonSource.open(file, ReadOptions(), ndjson=True, columnar=columnar)
    opened = time.perf_counter()
    rows = sum(batch.num_rows for batch in source.batches())
    done = time.perf_counter()
    if columnar and not source.columnar:
        raise BenchError(f"{file.name} fell back to the record reader: the benchmark file must not")
    return {
        "seconds": round(done - started, 3),
        "first_pass_seconds": round(opened - started, 3),
        "second_pass_seconds": round(done - opened, 3),
        "rows": rows,
        "path": "pyarrow.json" if source.columnar else "record by record",
    }


def print_table(result: dict[str, Any]) -> None:
    labels = {
        "anchor_copy": "psql \\copy of the CSV, typed table + PK",
        "ndjson_cold": "eventpulse ingest --wait, NDJSON (cold)",
        "ndjson_server": "eventpulse serve: NDJSON upload -> LOADED",
        "anchor_copy_after": "psql \\copy again, after the runs",
        "reader_columnar": "JsonSource alone, pyarrow.json path",
        "reader_records": "JsonSource alone, record by record",
    }
    print_steps(result, labels, width=46)
    for key in ("ratio_cold", "ratio_server"):
        if key in result:
            print(
                f"{key} (NDJSON eventpulse / mean CSV copy) = {result[key]:.2f}  (target <= {TARGET_RATIO})"
            )
    print(f"load average at the start: {result['load_average']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="parcels records (default 1,000,000)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    parser.add_argument("--skip-server", action="store_true", help="no warm-server run")
    parser.add_argument("--skip-reader", action="store_true", help="no reader-alone runs (old vs new)")
    parser.add_argument("--skip-records", action="store_true", help="reader alone: the columnar path only")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.rows <= MAX_ROWS:
        raise BenchError(f"--rows must be between 1 and {MAX_ROWS:,}")
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    csv_file, _ = ensure_file(args.rows)
    ndjson, generated = ensure_ndjson(csv_file)
    result: dict[str, Any] = {
        "machine": describe_machine(psql, args.database_url),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "file": {
            "csv_mb": round(csv_file.stat().st_size / 1e6, 1),
            "ndjson_mb": round(ndjson.stat().st_size / 1e6, 1),
            "rows": args.rows,
        },  # fmt: skip
        "ndjson_generation_seconds": None if generated is None else round(generated, 2),
        "target_ratio": TARGET_RATIO,
    }
    if not args.skip_reader:
        result["reader_columnar"] = measure_reader(ndjson, columnar=True)
        if not args.skip_records:
            result["reader_records"] = measure_reader(ndjson, columnar=False)
    fresh_database(psql, args.database_url)
    try:
        result["anchor_copy"] = measure_anchor(psql, args.database_url, csv_file)
        result["ndjson_cold"] = measure_eventpulse(psql, args.database_url, ndjson, args.rows)
        if not args.skip_server:
            fresh_database(psql, args.database_url)
            result["ndjson_server"] = measure_warm_server(psql, args.database_url, ndjson, args.rows)
        result["anchor_copy_after"] = measure_anchor(psql, args.database_url, csv_file)
        copy = (result["anchor_copy"]["seconds"] + result["anchor_copy_after"]["seconds"]) / 2
        result["ratio_cold"] = round(result["ndjson_cold"]["seconds"] / copy, 2)
        if "ndjson_server" in result:
            result["ratio_server"] = round(result["ndjson_server"]["seconds"] / copy, 2)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    return result


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "formats")


if __name__ == "__main__":
    raise SystemExit(main())

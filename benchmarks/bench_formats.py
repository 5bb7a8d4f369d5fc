"""Formats benchmark: the parcels file as NDJSON, XLSX or Parquet, end to end, against its anchors.

Usage: python benchmarks/bench_formats.py [--format ndjson|xlsx|parquet|all] [--rows N] [--xlsx-rows N]
       [--database-url URL] [--skip-server] [--skip-reader]
NDJSON (the default): 1M records against ``psql \\copy`` of the same CSV. XLSX: 100k rows against
fastexcel's bare read of the same workbook (and ``\\copy`` of the same CSV). Parquet: 1M rows against
the CSV end to end in the same run. See benchmarks/README.md ("bench_formats.py").
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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
TARGET_XLSX_VS_FASTEXCEL = 2.0
"""Issue 9: XLSX, 100k rows end to end at most 2x fastexcel's bare read of the same workbook."""
TARGET_PARQUET_VS_CSV = 1.3
"""Issue 9: Parquet end to end at most 1.3x the CSV's figure (both against the same run's \\copy)."""
FORMATS = ("ndjson", "xlsx", "parquet")

# The parcels contract's number and integer columns: JSON numbers in the NDJSON, number cells in the
# XLSX, double and int64 columns in the Parquet; the rest stay text in all three.
FLOAT_COLUMNS = ("lat", "lon", "sale_price", "bathrooms", "assessed_value")
INT_COLUMNS = ("year_built", "bedrooms", "building_sqft", "lot_sqft")


def csv_header(csv_file: Path) -> list[str]:
    with csv_file.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _typed_csv(csv_file: Path) -> pacsv.CSVStreamingReader:
    """The CSV's batches with the twin's types: the number columns as numbers, the rest as text."""
    header = csv_header(csv_file)
    types = {c: pa.float64() if c in FLOAT_COLUMNS else pa.int64() if c in INT_COLUMNS else pa.string()
             for c in header}  # fmt: skip
    return pacsv.open_csv(
        csv_file,
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, null_values=[""]),
    )


def _write_twin(path: Path, write: Callable[[Path], None]) -> tuple[Path, float | None]:
    """``path`` if cached, else written through a ``.part`` file; the seconds it took when written now."""
    if path.exists():
        return path, None
    started = time.perf_counter()
    tmp = path.with_name(path.name + ".part")
    write(tmp)
    tmp.replace(path)
    return path, time.perf_counter() - started


def ensure_ndjson(csv_file: Path) -> tuple[Path, float | None]:
    """The NDJSON twin of ``csv_file`` (same records, numbers as JSON numbers, empty fields null)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for batch in _typed_csv(csv_file):
                fh.writelines(json.dumps(record) + "\n" for record in batch.to_pylist())

    return _write_twin(csv_file.with_suffix(".ndjson"), write)


def ensure_xlsx(csv_file: Path) -> tuple[Path, float | None]:
    """The XLSX twin of ``csv_file``: one sheet, the header in row 1, number cells for the number
    columns, text cells (shared strings, as Excel writes them) for the rest, empty fields left empty."""

    def write(tmp: Path) -> None:
        import xlsxwriter

        book = xlsxwriter.Workbook(str(tmp))
        sheet = book.add_worksheet("parcels")
        row = 0
        for batch in _typed_csv(csv_file):
            if row == 0:
                sheet.write_row(0, 0, batch.schema.names)
                row = 1
            for record in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                for col, value in enumerate(record):
                    if value is None:
                        continue
                    if isinstance(value, str):
                        sheet.write_string(row, col, value)
                    else:
                        sheet.write_number(row, col, value)
                row += 1
        book.close()

    return _write_twin(csv_file.with_suffix(".xlsx"), write)


def ensure_parquet(csv_file: Path) -> tuple[Path, float | None]:
    """The Parquet twin of ``csv_file``: double and int64 number columns, string for the rest, written
    by ``pyarrow.parquet.write_table`` with its defaults (snappy; one row group up to 1,048,576 rows)."""

    def write(tmp: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(_typed_csv(csv_file).read_all(), tmp)

    return _write_twin(csv_file.with_suffix(".parquet"), write)


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


def measure_source(file: Path, fmt: str, columns: list[str], repeat: int) -> dict[str, Any]:
    """The project's reader alone, in this process (warm after the first run): ``open_source`` and
    every batch, with the default read options and the file's ``columns`` expected, as the pipeline's."""
    from eventpulse.parse.readers import open_source
    from eventpulse.parse.source import ReadOptions

    options = ReadOptions(expected_columns=tuple(columns))
    runs = []
    rows = 0
    for _ in range(repeat + 1):  # the first run warms the imports and the page cache, untimed
        started = time.perf_counter()
        source = open_source(file, fmt, options)  # type: ignore[arg-type]
        rows = sum(batch.num_rows for batch in source.batches())
        runs.append(time.perf_counter() - started)
    return {"seconds": round(statistics.median(runs[1:]), 3), "runs": [round(r, 3) for r in runs[1:]],
            "rows": rows}  # fmt: skip


# The anchor of the XLSX figure: fastexcel alone loads the sheet to Arrow, in a process of its own
# (imports done before the clock starts), exactly what a user of fastexcel would write.
FASTEXCEL_READ = """
import json, sys, time
import fastexcel, pyarrow
started = time.perf_counter()
table = fastexcel.read_excel(sys.argv[1]).load_sheet(0).to_arrow()
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": table.num_rows, "columns": table.num_columns}))
"""


def measure_fastexcel(file: Path, rows: int, columns: int, repeat: int) -> dict[str, Any]:
    """fastexcel's bare read of ``file``, each run in a fresh process: the read alone (``seconds``)
    and the whole process, interpreter start and imports included (``process_seconds``); medians."""
    reads, processes = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", FASTEXCEL_READ, str(file)], capture_output=True, text=True, check=False
        )
        processes.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise BenchError(f"fastexcel could not read {file.name}: {done.stderr.strip()[-500:]}")
        read = json.loads(done.stdout)
        if (read["rows"], read["columns"]) != (rows, columns):
            raise BenchError(f"fastexcel read {read['rows']} rows x {read['columns']} columns of {file.name}")
        reads.append(read["seconds"])
    return {
        "seconds": round(statistics.median(reads), 3),
        "process_seconds": round(statistics.median(processes), 3),
        "runs": [round(r, 3) for r in reads],
        "process_runs": [round(r, 3) for r in processes],
        "rows": rows,
        "columns": columns,
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _mean_copy(result: dict[str, Any]) -> float:
    return float((result["anchor_copy"]["seconds"] + result["anchor_copy_after"]["seconds"]) / 2)


def run_ndjson(args: argparse.Namespace, psql: str) -> dict[str, Any]:
    """1M NDJSON records: the reader alone, psql \\copy of the CSV, cold CLI, warm server, copy again."""
    csv_file, _ = ensure_file(args.rows)
    ndjson, generated = ensure_ndjson(csv_file)
    result: dict[str, Any] = {
        "format": "ndjson",
        "machine": describe_machine(psql, args.database_url),
        "load_average": _load(),
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
        copy = _mean_copy(result)
        result["ratio_cold"] = round(result["ndjson_cold"]["seconds"] / copy, 2)
        if "ndjson_server" in result:
            result["ratio_server"] = round(result["ndjson_server"]["seconds"] / copy, 2)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    result["load_average_after"] = _load()
    return result


def run_xlsx(args: argparse.Namespace, psql: str) -> dict[str, Any]:
    """XLSX rows: fastexcel's bare read, psql \\copy of the same CSV, cold CLI, warm server, both again."""
    csv_file, _ = ensure_file(args.xlsx_rows)
    xlsx, generated = ensure_xlsx(csv_file)
    names = csv_header(csv_file)
    columns = len(names)
    result: dict[str, Any] = {
        "format": "xlsx",
        "machine": describe_machine(psql, args.database_url),
        "load_average": _load(),
        "file": {
            "csv_mb": round(csv_file.stat().st_size / 1e6, 1),
            "xlsx_mb": round(xlsx.stat().st_size / 1e6, 1),
            "rows": args.xlsx_rows,
            "columns": columns,
        },
        "xlsx_generation_seconds": None if generated is None else round(generated, 2),
        "targets": {"xlsx_vs_fastexcel_at_most": TARGET_XLSX_VS_FASTEXCEL},
    }
    result["fastexcel"] = measure_fastexcel(xlsx, args.xlsx_rows, columns, args.repeat)
    if not args.skip_reader:
        result["reader"] = measure_source(xlsx, "xlsx", names, args.repeat)
    fresh_database(psql, args.database_url)
    try:
        result["anchor_copy"] = measure_anchor(psql, args.database_url, csv_file)
        result["xlsx_cold"] = measure_eventpulse(psql, args.database_url, xlsx, args.xlsx_rows)
        if not args.skip_server:
            fresh_database(psql, args.database_url)
            result["xlsx_server"] = measure_warm_server(psql, args.database_url, xlsx, args.xlsx_rows)
        result["anchor_copy_after"] = measure_anchor(psql, args.database_url, csv_file)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    result["fastexcel_after"] = measure_fastexcel(xlsx, args.xlsx_rows, columns, args.repeat)
    result["load_average_after"] = _load()
    result["ratios"] = summarise_xlsx(result)
    return result


def summarise_xlsx(result: dict[str, Any]) -> dict[str, float]:
    """Each XLSX run against the mean of the fastexcel reads before and after it (the read alone for
    the warm server, whose imports are done; the whole fastexcel process for the one-shot CLI, whose
    process start and imports are timed) and against the mean psql \\copy of the same CSV."""
    read = (result["fastexcel"]["seconds"] + result["fastexcel_after"]["seconds"]) / 2
    process = (result["fastexcel"]["process_seconds"] + result["fastexcel_after"]["process_seconds"]) / 2
    copy = _mean_copy(result)
    ratios = {
        "cold_vs_fastexcel_process": result["xlsx_cold"]["seconds"] / process,
        "cold_vs_fastexcel_read": result["xlsx_cold"]["seconds"] / read,
        "cold_vs_copy": result["xlsx_cold"]["seconds"] / copy,
    }
    if "xlsx_server" in result:
        ratios["server_vs_fastexcel_read"] = result["xlsx_server"]["seconds"] / read
        ratios["server_vs_copy"] = result["xlsx_server"]["seconds"] / copy
    if "reader" in result:
        ratios["reader_vs_fastexcel_read"] = result["reader"]["seconds"] / read
    return {k: round(v, 2) for k, v in ratios.items()}


def run_parquet(args: argparse.Namespace, psql: str) -> dict[str, Any]:
    """Parquet and CSV rows, alternated in one run: psql \\copy, CSV and Parquet cold, CSV and Parquet
    on a warm server, psql \\copy again; every eventpulse run on a fresh database."""
    csv_file, _ = ensure_file(args.rows)
    parquet, generated = ensure_parquet(csv_file)
    result: dict[str, Any] = {
        "format": "parquet",
        "machine": describe_machine(psql, args.database_url),
        "load_average": _load(),
        "file": {
            "csv_mb": round(csv_file.stat().st_size / 1e6, 1),
            "parquet_mb": round(parquet.stat().st_size / 1e6, 1),
            "rows": args.rows,
        },
        "parquet_generation_seconds": None if generated is None else round(generated, 2),
        "targets": {"parquet_vs_csv_at_most": TARGET_PARQUET_VS_CSV},
    }
    if not args.skip_reader:
        names = csv_header(csv_file)
        result["reader_csv"] = measure_source(csv_file, "csv", names, args.repeat)
        result["reader_parquet"] = measure_source(parquet, "parquet", names, args.repeat)
    fresh_database(psql, args.database_url)
    try:
        result["anchor_copy"] = measure_anchor(psql, args.database_url, csv_file)
        result["csv_cold"] = measure_eventpulse(psql, args.database_url, csv_file, args.rows)
        fresh_database(psql, args.database_url)
        result["parquet_cold"] = measure_eventpulse(psql, args.database_url, parquet, args.rows)
        if not args.skip_server:
            fresh_database(psql, args.database_url)
            result["csv_server"] = measure_warm_server(psql, args.database_url, csv_file, args.rows)
            fresh_database(psql, args.database_url)
            result["parquet_server"] = measure_warm_server(psql, args.database_url, parquet, args.rows)
        result["anchor_copy_after"] = measure_anchor(psql, args.database_url, csv_file)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    result["load_average_after"] = _load()
    result["ratios"] = summarise_parquet(result)
    return result


def summarise_parquet(result: dict[str, Any]) -> dict[str, float]:
    """Each run over the mean psql \\copy, and Parquet's ratio over the CSV's (the 1.3x target)."""
    copy = _mean_copy(result)
    ratios: dict[str, float] = {}
    for mode in ("cold", "server"):
        if f"csv_{mode}" in result and f"parquet_{mode}" in result:
            csv, parquet = (
                result[f"csv_{mode}"]["seconds"] / copy,
                result[f"parquet_{mode}"]["seconds"] / copy,
            )
            ratios[f"csv_{mode}_vs_copy"] = round(csv, 2)
            ratios[f"parquet_{mode}_vs_copy"] = round(parquet, 2)
            ratios[f"parquet_vs_csv_{mode}"] = round(parquet / csv, 2)
    if "reader_csv" in result and "reader_parquet" in result:
        ratios["reader_parquet_vs_csv"] = round(
            result["reader_parquet"]["seconds"] / result["reader_csv"]["seconds"], 2
        )
    return ratios


def print_ndjson(result: dict[str, Any]) -> None:
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


def print_xlsx(result: dict[str, Any]) -> None:
    labels = {
        "fastexcel": "fastexcel bare read (fresh process)",
        "reader": "XlsxSource alone, open + batches (warm)",
        "anchor_copy": "psql \\copy of the same CSV, typed + PK",
        "xlsx_cold": "eventpulse ingest --wait, XLSX (cold)",
        "xlsx_server": "eventpulse serve: XLSX upload -> LOADED",
        "anchor_copy_after": "psql \\copy again, after the runs",
        "fastexcel_after": "fastexcel bare read again",
    }
    print_steps(result, labels, width=46)
    for key in ("fastexcel", "fastexcel_after"):
        print(f"{key}: whole process (start, imports, read) {result[key]['process_seconds']:.2f} s")
    target = result["targets"]["xlsx_vs_fastexcel_at_most"]
    for key, value in result["ratios"].items():
        aim = (
            f"  (target <= {target})"
            if key in ("cold_vs_fastexcel_process", "server_vs_fastexcel_read")
            else ""
        )
        print(f"{key} = {value:.2f}{aim}")
    print(f"load average at the start: {result['load_average']}, at the end: {result['load_average_after']}")


def print_parquet(result: dict[str, Any]) -> None:
    labels = {
        "reader_csv": "CsvSource alone, open + batches (warm)",
        "reader_parquet": "ParquetSource alone, open + batches (warm)",
        "anchor_copy": "psql \\copy of the CSV, typed table + PK",
        "csv_cold": "eventpulse ingest --wait, CSV (cold)",
        "parquet_cold": "eventpulse ingest --wait, Parquet (cold)",
        "csv_server": "eventpulse serve: CSV upload -> LOADED",
        "parquet_server": "eventpulse serve: Parquet upload -> LOADED",
        "anchor_copy_after": "psql \\copy again, after the runs",
    }
    print_steps(result, labels, width=46)
    target = result["targets"]["parquet_vs_csv_at_most"]
    for key, value in result["ratios"].items():
        aim = f"  (target <= {target})" if key.startswith("parquet_vs_csv") else ""
        print(f"{key} = {value:.2f}{aim}")
    print(f"load average at the start: {result['load_average']}, at the end: {result['load_average_after']}")


RUNS: dict[
    str, tuple[Callable[[argparse.Namespace, str], dict[str, Any]], Callable[[dict[str, Any]], None]]
] = {
    "ndjson": (run_ndjson, print_ndjson),
    "xlsx": (run_xlsx, print_xlsx),
    "parquet": (run_parquet, print_parquet),
}


def print_table(result: dict[str, Any]) -> None:
    if result["format"] == "all":
        for fmt in FORMATS:
            print(f"\n--- {fmt}")
            RUNS[fmt][1](result[fmt])
    else:
        RUNS[result["format"]][1](result)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--format",
        choices=(*FORMATS, "all"),
        default="ndjson",
        help="the format to measure (default ndjson; all: ndjson, xlsx, parquet in turn)",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="NDJSON/Parquet rows (default 1,000,000)")
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="XLSX rows (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each read-alone timing (median)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    parser.add_argument("--skip-server", action="store_true", help="no warm-server run")
    parser.add_argument("--skip-reader", action="store_true", help="no reader-alone runs")
    parser.add_argument(
        "--skip-records", action="store_true", help="NDJSON reader alone: the columnar path only"
    )
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    for flag, rows in (("--rows", args.rows), ("--xlsx-rows", args.xlsx_rows)):
        if not 1 <= rows <= MAX_ROWS:
            raise BenchError(f"{flag} must be between 1 and {MAX_ROWS:,}")
    if args.repeat < 1:
        raise BenchError("--repeat must be at least 1")
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.format != "all":
        return RUNS[args.format][0](args, psql)
    return {"format": "all", **{fmt: RUNS[fmt][0](args, psql) for fmt in FORMATS}}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = "formats" if args.format == "ndjson" else f"formats-{args.format}"
    return bench_main(argv, build_parser(), run, print_table, name)


if __name__ == "__main__":
    raise SystemExit(main())

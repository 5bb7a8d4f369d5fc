"""Replay benchmark: the curated load into a keyed table that already holds the file's rows.

Usage: python benchmarks/bench_upsert.py [--rows N] [--repeat 3] [--database-url URL]
See benchmarks/README.md for what is measured and how to read the result.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from bench_ingest import (
    ANCHOR_DDL,
    BENCH_DB,
    DEFAULT_URL,
    OUT,
    BenchError,
    ensure_file,
    ensure_psql,
    ingest_env,
    one_shot_ingest,
    run_psql,
    with_database,
)

from eventpulse.adapters.postgres.curated import PgCuratedLoad
from eventpulse.curate.ddl import LINEAGE_FUNCTIONS_SQL, ROW_HASH_TRIGGER_FUNCTION_SQL, plan_table_changes
from eventpulse.ports import LineageValues, LoadStats
from eventpulse.schema.model import Column, LogicalType, TableSchema

TABLE = "curated_parcels"
E2E_DB = f"{BENCH_DB}_e2e"
"""The scratch database of the whole-replay runs (the platform's own: migrations, marts)."""
KEY = ["parcel_id"]
_TYPES: dict[str, LogicalType] = {
    "lat": "number",
    "lon": "number",
    "sale_price": "number",
    "bathrooms": "number",
    "assessed_value": "number",
    "sale_date": "date",
    "recording_date": "date",
    "year_built": "integer",
    "bedrooms": "integer",
    "building_sqft": "integer",
    "lot_sqft": "integer",
    "updated_at": "datetime",
}
_ARROW: dict[LogicalType, pa.DataType] = {
    "string": pa.string(),
    "number": pa.float64(),
    "integer": pa.int64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
}
BATCH_ROWS = 100_000


class OnConflictLoad(PgCuratedLoad):
    """The ``on_conflict`` merge plan whatever the sample says (anti-join, ``ON CONFLICT … WHERE``)."""

    forced_plan = "on_conflict"


class UpdatePlanLoad(PgCuratedLoad):
    """The ``update`` merge plan whatever the sample says (``UPDATE … FROM``, then ``INSERT``)."""

    forced_plan = "update"


class UnconditionalLoad(OnConflictLoad):
    """The merge as it was before change-only upserts: every existing key is rewritten."""

    def _fetch_known_hashes(self) -> Any:
        return None  # every row staged, as then

    def _changed_condition(self, compared: Any) -> str:
        return ""

    def _skip_unchanged(self, compared: Any) -> str:
        return ""


def with_merge_timer(loader: type[PgCuratedLoad]) -> type[PgCuratedLoad]:
    """``loader`` whose merge statement's seconds are kept in ``merge_seconds``."""

    class Timed(loader):  # type: ignore[valid-type, misc]
        merge_seconds = 0.0

        def _upsert(self) -> tuple[int, int]:
            started = time.perf_counter()
            try:
                return super()._upsert()
            finally:
                self.merge_seconds = time.perf_counter() - started

    return Timed


def build_schema(file: Path) -> TableSchema:
    with file.open() as handle:
        names = handle.readline().strip().split(",")
    return TableSchema.of([Column(n, _TYPES.get(n, "string"), n not in KEY) for n in names])


def read_table(file: Path, schema: TableSchema) -> pa.Table:
    """The file as typed Arrow columns plus ``_source_row``, read once before anything is timed."""
    types = {c.name: _ARROW[c.type] for c in schema}
    types["updated_at"] = pa.timestamp("us")  # naive in the file: UTC by contract
    table = pacsv.read_csv(file, convert_options=pacsv.ConvertOptions(column_types=types))
    table = table.set_column(
        table.schema.get_field_index("updated_at"),
        "updated_at",
        table.column("updated_at").cast(pa.timestamp("us", tz="UTC")),
    )
    return table.append_column("_source_row", pa.array(range(1, table.num_rows + 1), pa.int64()))


def with_changes(base: pa.Table, every: int) -> pa.Table:
    """``base`` with ``sale_price`` changed in every ``every``-th row (NULLs become a value)."""
    hit = pc.equal(pc.remainder(pa.array(range(base.num_rows), pa.int64()), every), 0)
    price = base.column("sale_price").combine_chunks()
    changed = pc.if_else(hit, pc.add(pc.fill_null(price, 0.0), 1.0), price)
    return base.set_column(base.schema.get_field_index("sale_price"), "sale_price", changed)


def _lineage() -> LineageValues:
    return LineageValues(str(uuid.uuid4()), "ab" * 32, "bench", datetime.now(UTC))


def timed_load(url: str, schema: TableSchema, data: pa.Table, loader: type[PgCuratedLoad]) -> dict[str, Any]:
    """One load in one transaction, commit included: what a replay ingestion's load step costs."""
    batches = data.combine_chunks().to_batches(max_chunksize=BATCH_ROWS)  # the pipeline's batch size
    conn = pg8000.dbapi.connect(**url_params(url))
    try:
        started = time.perf_counter()
        load = with_merge_timer(loader)(conn, TABLE, schema, KEY, _lineage(), keys_verified_unique=True)
        load.start()
        for batch in batches:
            load.write(batch)
        stats: LoadStats = load.finish()
        conn.commit()
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    merge = round(getattr(load, "merge_seconds", 0.0), 3)
    return {"seconds": round(seconds, 3), "merge_seconds": merge, "plan": load.plan, **stats.to_dict()}


def url_params(url: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {
        "user": parts.username or "postgres",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "database": parts.path.lstrip("/"),
    }


def reset_table(psql: str, url: str, schema: TableSchema, base: pa.Table) -> dict[str, Any]:
    """Recreate the curated table and load ``base`` into it (direct COPY), then VACUUM ANALYZE."""
    run_psql(psql, url, f"DROP TABLE IF EXISTS {TABLE}", *plan_table_changes(TABLE, schema, KEY, None))
    first = timed_load(url, schema, base, PgCuratedLoad)
    run_psql(psql, url, f"VACUUM ANALYZE {TABLE}")
    return first


def measure_anchor(psql: str, url: str, file: Path) -> float:
    run_psql(psql, url, "DROP TABLE IF EXISTS anchor_parcels", ANCHOR_DDL)
    started = time.perf_counter()
    run_psql(psql, url, f"\\copy anchor_parcels FROM '{file}' WITH (FORMAT csv, HEADER true)")
    seconds = time.perf_counter() - started
    run_psql(psql, url, "DROP TABLE anchor_parcels")
    return seconds


def changed_csv(file: Path, every: int) -> Path:
    """``file`` with ``sale_price`` changed in every ``every``-th row, as ``with_changes`` changes it
    (written once beside it, not timed); every other field is kept as it was."""
    out = OUT / f"{file.stem}_changed_every_{every}.csv"
    if out.exists():
        return out
    with file.open(newline="") as src, out.open("w", newline="") as dst:
        rows = csv.reader(src)
        header = next(rows)
        price = header.index("sale_price")
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(header)
        for i, row in enumerate(rows):
            if i % every == 0:
                row[price] = repr(float(row[price] or 0.0) + 1.0)
            writer.writerow(row)
    return out


def measure_end_to_end(psql: str, admin_url: str, file: Path, replay: Path, rows: int) -> dict[str, Any]:
    """The whole replay as a user runs it: ``eventpulse ingest`` of the changed file, one-shot, into
    the dataset that already holds the original file (loaded first, not timed); fresh database."""
    run_psql(psql, admin_url, f"DROP DATABASE IF EXISTS {E2E_DB} WITH (FORCE)", f"CREATE DATABASE {E2E_DB}")
    bench_url = with_database(admin_url, E2E_DB)
    with tempfile.TemporaryDirectory(prefix="eventpulse-bench-") as data_dir:
        env = ingest_env(admin_url, E2E_DB, data_dir)
        first, _ = one_shot_ingest(env, file)
        run_psql(psql, bench_url, "VACUUM ANALYZE curated_parcels")
        seconds, _ = one_shot_ingest(env, replay)
    sql = (
        "SELECT body ->> 'updated', body ->> 'skipped' FROM ingestion_artifacts "
        "WHERE kind = 'load' ORDER BY created_at DESC LIMIT 1"
    )
    updated, skipped = run_psql(psql, bench_url, sql).split("|")
    count = int(run_psql(psql, bench_url, "SELECT count(*) FROM curated_parcels"))
    if count != rows:
        raise BenchError(f"curated_parcels holds {count:,} rows after the replay, expected {rows:,}")
    return {
        "seconds": round(seconds, 3),
        "first_load": round(first, 3),
        "updated": int(updated),
        "skipped": int(skipped),
    }


def check(result: dict[str, Any], rows: int, updated: int) -> None:
    got = (result["inserted"], result["updated"], result["unchanged"])
    if got != (0, updated, rows - updated):
        raise BenchError(f"expected inserted/updated/unchanged (0, {updated}, {rows - updated}), got {got}")


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    psql = ensure_psql()
    file, generated = ensure_file(args.rows)
    schema = build_schema(file)
    base = read_table(file, schema)
    one_percent, every_row = with_changes(base, 100), with_changes(base, 1)
    changed_1pct = pc.sum(pc.equal(pc.remainder(pa.array(range(args.rows)), 100), 0)).as_py()
    run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB}", f"CREATE DATABASE {BENCH_DB}")
    url = with_database(args.database_url, BENCH_DB)
    run_psql(psql, url, *LINEAGE_FUNCTIONS_SQL, ROW_HASH_TRIGGER_FUNCTION_SQL)  # what migrations 0011-12 make
    scenarios: list[tuple[str, pa.Table, int, type[PgCuratedLoad]]] = [
        ("replay_unchanged", base, 0, PgCuratedLoad),
        ("replay_1pct_changed", one_percent, changed_1pct, PgCuratedLoad),
        ("replay_all_changed", every_row, args.rows, PgCuratedLoad),
    ]
    if args.compare_unconditional:
        scenarios += [
            ("update_plan_1pct_changed", one_percent, changed_1pct, UpdatePlanLoad),
            ("on_conflict_plan_all_changed", every_row, args.rows, OnConflictLoad),
            ("before_all_changed", every_row, args.rows, UnconditionalLoad),
        ]
    end_to_end = [("ingest_1pct_changed", 100), ("ingest_all_changed", 1)] if args.end_to_end else []
    runs: list[dict[str, Any]] = []
    try:
        for repeat in range(args.repeat):
            record: dict[str, Any] = {"repeat": repeat + 1, "loadavg_before": loadavg()}
            record["anchor_copy"] = round(measure_anchor(psql, url, file), 3)
            for name, data, updated, loader in scenarios:
                record.setdefault("first_loads", []).append(reset_table(psql, url, schema, base)["seconds"])
                result = timed_load(url, schema, data, loader)
                check(result, args.rows, updated)
                record[name] = result
                print(f"run {repeat + 1} {name}: {result}", file=sys.stderr)
            for name, every in end_to_end:
                done = measure_end_to_end(psql, args.database_url, file, changed_csv(file, every), args.rows)
                expected = changed_1pct if every == 100 else args.rows
                if done["updated"] != expected:
                    raise BenchError(f"{name}: {done['updated']:,} rows updated, expected {expected:,}")
                record[name] = done
                print(f"run {repeat + 1} {name}: {done}", file=sys.stderr)
            record["anchor_copy_after"] = round(measure_anchor(psql, url, file), 3)
            record["loadavg_after"] = loadavg()
            print(f"run {repeat + 1}: load average {record['loadavg_before']} -> {record['loadavg_after']}")
            runs.append(record)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {E2E_DB} WITH (FORCE)")
    result = summarise(args, file, generated, runs, [s[0] for s in scenarios] + [e[0] for e in end_to_end])
    result["machine"]["postgres"] = run_psql(psql, args.database_url, "SHOW server_version")
    result["machine"]["cpu"] = cpu_model()
    return result


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def summarise(
    args: argparse.Namespace,
    file: Path,
    generated: float | None,
    runs: list[dict[str, Any]],
    names: list[str],
) -> dict[str, Any]:
    def ratio(run: dict[str, Any], name: str) -> float:
        anchor = (run["anchor_copy"] + run["anchor_copy_after"]) / 2
        return round(run[name]["seconds"] / anchor, 3)

    median: Callable[[list[float]], float] = statistics.median
    targets = {"replay_1pct_changed": 1.2, "replay_all_changed": 2.5}
    summary = {
        name: {
            "ratios": [ratio(r, name) for r in runs],
            "median_ratio": round(median([ratio(r, name) for r in runs]), 3),
            "median_seconds": round(median([r[name]["seconds"] for r in runs]), 3),
            "target": targets.get(name),
        }
        for name in names
    }
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "file": {
            "path": str(file),
            "rows": args.rows,
            "bytes": file.stat().st_size,
            "generated_s": generated,
        },
        "runs": runs,
        "summary": summary,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--compare-unconditional",
        action="store_true",
        help="also time the merge plan not chosen, and the old merge that rewrites every key",
    )
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="also time whole replays: one-shot `eventpulse ingest` of each changed file",
    )
    args = parser.parse_args()
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench_upsert: {exc}", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    out = OUT / f"upsert-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"{'scenario':<22} {'median s':>9} {'ratio (each run)':<28} {'median':>7} target")
    for name, row in result["summary"].items():
        each = ", ".join(f"{r:.2f}" for r in row["ratios"])
        target = f"<= {row['target']}" if row["target"] else "-"
        print(f"{name:<22} {row['median_seconds']:>9.2f} {each:<28} {row['median_ratio']:>7.2f} {target}")
    anchors = [r["anchor_copy"] for r in result["runs"]] + [r["anchor_copy_after"] for r in result["runs"]]
    print(f"anchor psql \\copy into an empty keyed table: {', '.join(f'{a:.2f}' for a in anchors)} s")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

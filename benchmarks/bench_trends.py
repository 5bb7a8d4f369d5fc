"""Trends benchmark: each /api/stats route over 10,000 seeded ingestions, against bare-SQL anchors.

Seeds ingestions with quality and drift artifacts in bulk (psql \\copy at migration 0003, then the
upgrade to 0009 backfills the compact facts), then times each route through the Flask test client
(median of N) next to, in the same run: the ``SELECT count(*) FROM ingestions`` round trip, the
route's own SQL run bare, and the expectation aggregate read straight from the JSONB reports.
Usage: python benchmarks/bench_trends.py [--ingestions N] [--repeat N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_ingest import (
    DEFAULT_URL,
    OUT,
    BenchError,
    bench_main,
    describe_machine,
    ensure_psql,
    run_psql,
    with_database,
)
from sqlalchemy import Engine, create_engine, event, text

from eventpulse.adapters.postgres.migrate import upgrade
from eventpulse.api.app import create_app
from eventpulse.bootstrap import build_services
from eventpulse.settings import Settings

BENCH_DB = "eventpulse_bench_trends"
REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 200.0
END = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 90
STATUSES = [
    ("LOADED", 80),
    ("FAILED_QUALITY", 8),
    ("FAILED_DRIFT", 4),
    ("FAILED_READ", 3),
    ("QUARANTINED", 2),
]
STATUSES += [("RECEIVED", 2), ("PROCESSING", 1)]
SOURCES = ["api", "watcher", "demo"]
INGESTION_COLUMNS = "id, dataset, filename, source, raw_key, sha256, size_bytes, status, max_attempts, "
INGESTION_COLUMNS += "created_by, created_at, updated_at, rows_total, rows_loaded"
JSONB_EXPECTATIONS = """
SELECT date_trunc('day', i.created_at, 'UTC') AS bucket, r ->> 'expectation_type', r -> 'kwargs' ->> 'column',
       count(*), count(*) FILTER (WHERE (r ->> 'success')::boolean)
FROM ingestions i JOIN ingestion_artifacts a ON a.ingestion_id = i.id AND a.kind = 'quality',
     jsonb_array_elements(a.body -> 'results') AS r
WHERE i.dataset = 'parcels' AND i.created_at >= :since AND i.created_at < :until
GROUP BY 1, 2, 3
"""


def contract_expectations() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name in ("parcels", "edge_telemetry"):
        suite = json.loads((REPO / "contracts" / f"{name}.json").read_text())
        out[name] = [{"type": e["type"], "kwargs": e.get("kwargs", {})} for e in suite["expectations"]]
    return out


def quality_report(rng: random.Random, expectations: list[dict[str, Any]], failed: bool) -> dict[str, Any]:
    """A report shaped like the gate's: one result per expectation, failing rows on failures."""
    results = []
    for i, e in enumerate(expectations):
        ok = not (failed and i % 5 == 1) and rng.random() > 0.02
        bad = 0 if ok else rng.randint(1, 500)
        results.append(
            {
                "expectation_type": e["type"],
                "kwargs": e["kwargs"],
                "severity": "critical",
                "success": ok,
                "observed_value": None,
                "unexpected_count": bad,
                "unexpected_percent": None if ok else round(bad / 10, 3),
                "failing_rows": sorted(rng.sample(range(1, 5000), min(bad, 20))),
                "sample_values": [f"value-{n}" for n in range(min(bad, 5))],
                "exception": None,
            }
        )
    failures = sum(not r["success"] for r in results)
    return {"passed": failures == 0, "rows_evaluated": 1000, "critical_failures": failures, "warnings": 0,
            "results": results}  # fmt: skip


def drift_artifact(status: str, rng: random.Random) -> dict[str, Any]:
    schema = {"columns": [{"name": f"col_{n}", "type": "string", "nullable": True} for n in range(23)]}
    changes: list[dict[str, Any]] = []
    outcome = "accept"
    if status == "FAILED_DRIFT":
        outcome, changes = "reject", [{"kind": "type_incompatible", "column": "sale_price", "breaking": True}]
    elif status == "QUARANTINED":
        outcome, changes = "quarantine", [{"kind": "column_removed", "column": "book", "breaking": True}]
    elif rng.random() < 0.1:
        changes = [{"kind": "column_added", "column": f"extra_{rng.randint(1, 9)}", "breaking": False}]
    for change in changes:
        change.update({"before": None, "after": "string", "mode": "evolve"})
    decision = {
        "outcome": outcome,
        "changes": changes,
        "baseline": schema,
        "evolved": bool(changes),
        "reason": "",
    }
    return {"decision": decision, "known_schema": schema, "observed_schema": schema, "policy": {}}


def write_seed_files(folder: Path, count: int) -> tuple[Path, Path]:
    rng = random.Random(7)
    expectations = contract_expectations()
    weights = [w for _, w in STATUSES]
    ingestion_file, artifact_file = folder / "ingestions.csv", folder / "artifacts.csv"
    with ingestion_file.open("w", newline="") as fi, artifact_file.open("w", newline="") as fa:
        ingestions_out, artifacts_out = csv.writer(fi), csv.writer(fa)
        for n in range(count):
            key, dataset = uuid.UUID(int=rng.getrandbits(128), version=4), rng.choice(list(expectations))
            status = rng.choices([s for s, _ in STATUSES], weights)[0]
            at = END - timedelta(seconds=rng.uniform(0, DAYS * 86_400))
            rows = rng.randint(100, 100_000)
            loaded = rows if status == "LOADED" else 0
            ingestions_out.writerow(
                [key, dataset, f"f{n}.csv", rng.choice(SOURCES), f"{dataset}/{key.hex}.csv", key.hex * 2,
                 rows * 120, status, 3, "bench", at.isoformat(), at.isoformat(), rows, loaded]
            )  # fmt: skip
            if status in ("LOADED", "FAILED_QUALITY"):
                report = quality_report(rng, expectations[dataset], status == "FAILED_QUALITY")
                artifacts_out.writerow([key, "quality", json.dumps(report)])
            if status not in ("FAILED_READ", "RECEIVED", "PROCESSING"):
                artifacts_out.writerow([key, "drift", json.dumps(drift_artifact(status, rng))])
    return ingestion_file, artifact_file


def seed(psql: str, libpq_url: str, engine: Engine, count: int) -> dict[str, Any]:
    upgrade(engine, "0003")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ingestion_file, artifact_file = write_seed_files(Path(tmp), count)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        run_psql(
            psql,
            libpq_url,
            f"\\copy ingestions ({INGESTION_COLUMNS}) FROM '{ingestion_file}' CSV",
            f"\\copy ingestion_artifacts (ingestion_id, kind, body) FROM '{artifact_file}' CSV",
        )
        copied = time.perf_counter() - started
    started = time.perf_counter()
    upgrade(engine)  # 0009: backfills quality_summaries and drift_changes from the artifacts
    migrated = time.perf_counter() - started
    run_psql(psql, libpq_url, "VACUUM ANALYZE")
    counts = run_psql(
        psql,
        libpq_url,
        "SELECT (SELECT count(*) FROM ingestions) || ' ' || (SELECT count(*) FROM ingestion_artifacts) || ' '"
        " || (SELECT count(*) FROM quality_summaries) || ' ' || (SELECT count(*) FROM drift_changes)",
    ).split()
    names = ("ingestions", "artifacts", "quality_summaries", "drift_changes")
    return {
        "generate_seconds": round(generated, 2),
        "copy_seconds": round(copied, 2),
        "migration_trend_facts_seconds": round(migrated, 2),
        **{name: int(value) for name, value in zip(names, counts, strict=True)},
    }


def median_ms(action: Callable[[], object], repeat: int) -> dict[str, float]:
    for _ in range(2):
        action()  # warm: pool, plan and page caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(times[-1], 2)}


@contextmanager
def captured_sql(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) the route sends, to run them bare and EXPLAIN them."""
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "date_trunc(" in statement:  # the trend aggregate (expectations send no generate_series)
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def run_bare(engine: Engine, statement: str, parameters: Any, prefix: str = "") -> list[Any]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(prefix + statement, parameters).fetchall())


WIDE = {"since": "2026-09-02", "until": "2026-12-01"}
WEEK = {"since": "2026-11-24", "until": "2026-12-01", "bucket": "hour"}
CASES = {
    "ingestions, 90 days by day, group_by=source": ("ingestions", {**WIDE, "group_by": "source"}),
    "ingestions, 7 days by hour": ("ingestions", WEEK),
    "ingestions, 90 days by week, dataset": ("ingestions", {**WIDE, "bucket": "week", "dataset": "parcels"}),
    "expectations parcels, 90 days by day": ("expectations", {**WIDE, "dataset": "parcels"}),
    "expectations parcels, 7 days by hour": ("expectations", {**WEEK, "dataset": "parcels"}),
    "expectations parcels, 90 days, group_by=source": (
        "expectations",
        {**WIDE, "dataset": "parcels", "group_by": "source"},
    ),
    "drift, 90 days by day, group_by=dataset": ("drift", {**WIDE, "group_by": "dataset"}),
}


def measure_routes(services: Any, repeat: int) -> dict[str, Any]:
    client = create_app(services).test_client()
    engine: Engine = services.store.engine
    out: dict[str, Any] = {}
    for label, (route, params) in CASES.items():
        url = f"/api/stats/{route}"

        def call(url: str = url, params: dict[str, str] = params) -> None:
            response = client.get(url, query_string=params)
            if response.status_code != 200:
                raise BenchError(
                    f"{url} {params} answered {response.status_code}: {response.get_data()[:300]!r}"
                )

        with captured_sql(engine) as seen:
            call()
        statement, parameters = seen[0]
        plan = run_bare(engine, statement, parameters, "EXPLAIN (ANALYZE, BUFFERS) ")
        route_ms = median_ms(call, repeat)
        sql_ms = median_ms(lambda s=statement, p=parameters: run_bare(engine, s, p), repeat)
        out[label] = {
            "route": route_ms,
            "bare_sql": sql_ms,
            "plan": [row[0] for row in plan],
            "uses_index": [name for name in ("ix_ingestions_created_at", "ix_ingestions_dataset_created",
                           "ix_ingestions_source_created") if any(name in row[0] for row in plan)],
        }  # fmt: skip
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": describe_machine(psql, args.database_url), "repeat": args.repeat}
    result["ingestions"] = args.ingestions
    libpq_url = with_database(args.database_url, BENCH_DB)
    sa_url = with_database(args.database_url, BENCH_DB, "postgresql+pg8000")
    fresh = (f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", f"CREATE DATABASE {BENCH_DB}")
    run_psql(psql, args.database_url, *fresh)
    try:
        engine = create_engine(sa_url)
        result["seed"] = seed(psql, libpq_url, engine, args.ingestions)
        engine.dispose()
        with tempfile.TemporaryDirectory() as data:
            settings = Settings(mode="local", data_dir=Path(data), database_url=sa_url, auth_disabled=True)
            services = build_services(settings)
            try:
                engine = services.store.engine
                result["anchor_count_roundtrip"] = median_ms(
                    lambda: run_bare(engine, "SELECT count(*) FROM ingestions", ()), args.repeat
                )
                window = {"since": datetime(2026, 9, 2, tzinfo=UTC), "until": END}
                result["jsonb_expectations_90_days"] = median_ms(
                    lambda: _run_text(engine, JSONB_EXPECTATIONS, window), args.repeat
                )
                result["routes"] = measure_routes(services, args.repeat)
            finally:
                services.close()
    finally:
        if not args.keep:
            run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    anchor = result["anchor_count_roundtrip"]["median_ms"]
    for case in result["routes"].values():
        case["ratio_to_count_roundtrip"] = round(case["route"]["median_ms"] / anchor, 1)
        case["ratio_to_bare_sql"] = round(case["route"]["median_ms"] / case["bare_sql"]["median_ms"], 2)
        case["under_target"] = case["route"]["median_ms"] < TARGET_MS
    return result


def _run_text(engine: Engine, sql: str, params: dict[str, Any]) -> None:
    with engine.connect() as conn:
        conn.execute(text(sql), params).fetchall()


def print_table(result: dict[str, Any]) -> None:
    seed_info = result["seed"]
    print(f"\nseeded {seed_info}")
    anchor = result["anchor_count_roundtrip"]["median_ms"]
    print(f"anchor: SELECT count(*) FROM ingestions round trip, median {anchor:.2f} ms")
    print(
        f"JSONB alternative (expectations, 90 days, from the reports): {result['jsonb_expectations_90_days']}"
    )
    line = "{:<44} {:>10} {:>9} {:>9} {:>8} {}"
    print(
        line.format(f"route (median of {result['repeat']})", "route ms", "SQL ms", "/count", "/SQL", "index")
    )
    for label, case in result["routes"].items():
        print(
            line.format(
                label,
                f"{case['route']['median_ms']:.1f}",
                f"{case['bare_sql']['median_ms']:.1f}",
                f"{case['ratio_to_count_roundtrip']:.1f}",
                f"{case['ratio_to_bare_sql']:.2f}",
                ",".join(case["uses_index"]) or "seq scan",
            )
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingestions", type=int, default=10_000, help="ingestions to seed (default 10,000)")
    parser.add_argument("--repeat", type=int, default=21, help="timed requests per route (default 21)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {BENCH_DB} afterwards")
    return parser


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "trends")


if __name__ == "__main__":
    raise SystemExit(main())

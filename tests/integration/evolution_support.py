"""Contracts, files and checks shared by the schema-evolution tests (real pipeline, real Postgres)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from eventpulse.curate.ddl import PG_TYPES, RESERVED_COLUMN_NAMES, curated_table_name
from eventpulse.schema.model import LogicalType

KEY = "id"


def write_contract(
    contracts_dir: Path,
    dataset: str,
    *,
    columns: Mapping[str, LogicalType],
    drift_policy: Mapping[str, str],
) -> None:
    """A minimal valid contract: a string key ``id`` (unique, not null) plus nullable ``columns``."""
    declared: dict[str, Any] = {KEY: {"type": "string", "nullable": False}}
    declared.update({name: {"type": kind} for name, kind in columns.items()})
    suite = {
        "name": dataset,
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": KEY}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": KEY}},
        ],
        "meta": {
            "eventpulse": {"primary_key": [KEY], "columns": declared, "drift_policy": dict(drift_policy)}
        },
    }
    (contracts_dir / f"{dataset}.json").write_text(json.dumps(suite, indent=2))


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def history_columns(services: Any, dataset: str) -> dict[str, str] | None:
    """The latest accepted schema as {column: logical type}; None when the dataset has no history."""
    with services.store.read() as tx:
        latest = tx.schemas.latest(dataset)
    return None if latest is None else {c.name: c.type for c in latest[1]}


def recorded_curated_columns(services: Any, dataset: str) -> dict[str, str] | None:
    """``datasets.curated_schema`` as {column: logical type}; None before the first load."""
    with services.store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT curated_schema FROM datasets WHERE name = :d"), {"d": dataset}
        ).first()
    if row is None or row.curated_schema is None:
        return None
    return {c["name"]: c["type"] for c in row.curated_schema["columns"]}


def table_columns(services: Any, dataset: str) -> dict[str, str] | None:
    """The curated table's data columns as {column: Postgres type}; None when it does not exist."""
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS pg_type FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum"
            ),
            {"t": curated_table_name(dataset)},
        ).all()
    if not rows:
        return None
    pg_names = {"timestamp with time zone": "timestamptz"}
    return {
        r.attname: pg_names.get(r.pg_type, r.pg_type) for r in rows if r.attname not in RESERVED_COLUMN_NAMES
    }


def as_pg_types(columns: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if columns is None else {name: PG_TYPES[kind] for name, kind in columns.items()}  # type: ignore[index]


def assert_history_matches_table(services: Any, dataset: str) -> None:
    """The invariant: history, ``datasets.curated_schema`` and the table have the same columns and types."""
    history = history_columns(services, dataset)
    table = table_columns(services, dataset)
    recorded = recorded_curated_columns(services, dataset)
    assert as_pg_types(history) == table, f"history {history} disagrees with the table {table}"
    assert recorded == history, f"datasets.curated_schema {recorded} disagrees with the history {history}"
    if history is not None:  # column order too: the table appends columns in the order they arrived
        assert list(history) == list(table or {})


def schema_reasons(services: Any, dataset: str) -> list[str]:
    with services.store.read() as tx:
        return [str(r["reason"]) for r in tx.schemas.history(dataset)]


def drift_changes(services: Any, ingestion_id: Any) -> list[tuple[str, str]]:
    with services.store.read() as tx:
        drift = tx.ingestions.artifacts(ingestion_id)["drift"]
    return [(c["kind"], c["column"]) for c in drift["decision"]["changes"]]

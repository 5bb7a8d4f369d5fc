"""The per-test cleanup empties every table, including one no list in the tests knows about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.conftest import reset_database
from tests.helpers import ingest
from tests.integration.api_support import edge_csv

PROBE = "zz_future_metadata_table"
"""Stands for a table a later migration adds."""


def _row_counts(services: Any) -> dict[str, int]:
    with services.store.engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
        return {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()) for t in list(tables)}


def test_the_cleanup_empties_every_metadata_table_and_drops_the_curated_ones(
    services: Any, tmp_path: Path
) -> None:
    row = ingest(services, edge_csv(tmp_path, rows=5), "edge_telemetry")
    assert row["status"] == "LOADED", row["error"]
    with services.store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO source_objects (bucket, name, generation, outcome, reason) "
                "VALUES ('b', 'outside/x.csv', 1, 'rejected', 'test')"
            )
        )
        conn.execute(text(f'CREATE TABLE "{PROBE}" (id integer)'))
        conn.execute(text(f'INSERT INTO "{PROBE}" VALUES (1)'))
    try:
        before = _row_counts(services)
        assert {"ingestions", "ingestion_artifacts", "audit_events", "source_objects", PROBE} <= {
            t for t, n in before.items() if n
        }
        assert "curated_edge_telemetry" in before

        reset_database(services.store.engine)

        after = _row_counts(services)
        assert not [t for t in after if t.startswith("curated_")]
        assert {t: n for t, n in after.items() if n} == {"alembic_version": 1}  # migrations stay applied
    finally:
        with services.store.engine.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{PROBE}"'))

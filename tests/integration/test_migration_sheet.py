"""Migration 0003 on a database that holds ingestions from before it (real Postgres, the real runner)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import Engine, text

from eventpulse.adapters.postgres.migrate import upgrade
from tests.integration.migration_support import empty_database_engine

engine = empty_database_engine()


def insert_row(engine: Engine, sha: str, options: dict[str, object], sheet: str | None = None) -> uuid.UUID:
    """An original ingestion row; ``sheet`` None leaves the column out (as before migration 0003)."""
    key = uuid.uuid4()
    columns = "id, dataset, filename, source, raw_key, sha256, size_bytes, status, max_attempts, options, "
    columns += "created_by"
    values = ":id, 'parcels', 'b.xlsx', 'api', :key, :sha, 1, 'LOADED', 3, CAST(:options AS jsonb), 'test'"
    if sheet is not None:
        columns, values = columns + ", sheet", values + ", :sheet"
    with engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO ingestions ({columns}) VALUES ({values})"),
            {
                "id": key,
                "key": f"parcels/{sha}.xlsx",
                "sha": sha,
                "options": json.dumps(options),
                "sheet": sheet,
            },
        )
    return key


def test_existing_ingestions_take_their_sheet_and_other_sheets_of_the_same_bytes_can_follow(engine) -> None:
    upgrade(engine, "0002")
    named = insert_row(engine, "a" * 64, {"sheet": "South"})
    indexed = insert_row(engine, "b" * 64, {"sheet": 2})
    first = insert_row(engine, "c" * 64, {"sheet": 0})
    plain = insert_row(engine, "d" * 64, {"encoding": "cp1252"})

    upgrade(engine)

    with engine.connect() as conn:
        sheets = dict(conn.execute(text("SELECT id, sheet FROM ingestions")).all())
        assert sheets == {named: "South", indexed: "[2]", first: "", plain: ""}
        indexes = set(
            conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'ingestions'")).scalars()
        )
    assert "ux_ingestions_dataset_sha256_sheet_original" in indexes
    assert "ux_ingestions_dataset_sha256_original" not in indexes
    insert_row(engine, "a" * 64, {"sheet": "North"}, "North")  # another sheet of the same bytes: allowed now
    with pytest.raises(Exception, match="ux_ingestions_dataset_sha256_sheet_original"):
        insert_row(engine, "a" * 64, {"sheet": "South"}, "South")  # the same bytes and sheet: one original

"""Migration 0011: lineage defaults read once per COPY, on a database with curated tables from before.

Real Postgres, the real migration runner. The defaults must keep filling every row with its own
load's lineage (a folded constant must never leak from one load into the next), and an unset setting
must still refuse the row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pg8000
import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from eventpulse.adapters.postgres.curated import PgCuratedLoad
from eventpulse.adapters.postgres.migrate import upgrade
from eventpulse.curate.ddl import plan_table_changes
from eventpulse.ports import LineageValues
from eventpulse.schema.model import Column, TableSchema
from tests.integration.migration_support import downgrade, empty_database_engine

SCHEMA = TableSchema.of([Column("id", "integer", False), Column("name", "string")])

# The curated DDL as it was before revision 0011 (lineage defaults read the settings per row).
OLD_TABLE = """
CREATE TABLE curated_old (
  id bigint NOT NULL, name text,
  _ingestion_id uuid NOT NULL DEFAULT CAST(current_setting('eventpulse.ingestion_id') AS uuid),
  _loaded_at timestamptz NOT NULL DEFAULT CAST(current_setting('eventpulse.loaded_at') AS timestamptz),
  _source_sha256 text NOT NULL DEFAULT CAST(current_setting('eventpulse.source_sha256') AS text),
  _source_row bigint NOT NULL,
  _contract_version text NOT NULL DEFAULT CAST(current_setting('eventpulse.contract_version') AS text),
  PRIMARY KEY (id)
)
"""


engine = empty_database_engine()


def _raw(engine: Engine) -> pg8000.Connection:
    url = engine.url
    return pg8000.connect(user=url.username, host=url.host, port=url.port or 5432, database=url.database)


def _defaults(engine: Engine, table: str) -> dict[str, str]:
    sql = (
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = CAST(:t AS regclass)"
    )
    with engine.connect() as conn:
        return dict(conn.execute(text(sql), {"t": table}).all())


def _direct_load(conn: pg8000.Connection, table: str, ids: list[int]) -> LineageValues:
    """One load into the (empty) table through the direct COPY path; committed."""
    lineage = LineageValues(str(uuid.uuid4()), uuid.uuid4().hex * 2, f"v{ids[0]}", datetime.now(UTC))
    load = PgCuratedLoad(conn, table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
    load.start()
    batch = pa.record_batch(
        [pa.array(ids, pa.int64()), pa.array([f"n{i}" for i in ids]), pa.array(ids, pa.int64())],
        names=["id", "name", "_source_row"],
    )
    load.write(batch)
    stats = load.finish()
    conn.commit()
    assert stats.inserted == len(ids)
    return lineage


def _lineage_of(conn: pg8000.Connection, table: str) -> set[tuple]:
    rows = conn.run(
        "SELECT DISTINCT CAST(_ingestion_id AS text), _loaded_at, _source_sha256, _contract_version "
        f"FROM {table}"
    )
    conn.commit()
    return {tuple(r) for r in rows}


def _expected(lineage: LineageValues) -> set[tuple]:
    return {(lineage.ingestion_id, lineage.loaded_at, lineage.source_sha256, lineage.contract_version)}


def test_existing_tables_move_to_the_functions_and_each_load_keeps_its_own_lineage(engine) -> None:
    upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.execute(text(OLD_TABLE))
    assert "current_setting" in _defaults(engine, "curated_old")["_ingestion_id"]

    upgrade(engine)

    defaults = _defaults(engine, "curated_old")
    assert defaults["_ingestion_id"] == "eventpulse_lineage_uuid('eventpulse.ingestion_id'::text)"
    assert defaults["_loaded_at"] == "eventpulse_lineage_timestamptz('eventpulse.loaded_at'::text)"
    assert defaults["_source_sha256"] == "eventpulse_lineage_text('eventpulse.source_sha256'::text)"
    assert defaults["_contract_version"] == "eventpulse_lineage_text('eventpulse.contract_version'::text)"
    # A table created now gets the same defaults from the DDL planner.
    with engine.begin() as conn:
        for sql in plan_table_changes("curated_new", SCHEMA, ["id"], None):
            conn.execute(text(sql))
    assert _defaults(engine, "curated_new") == defaults

    conn = _raw(engine)
    try:
        for table in ("curated_old", "curated_new"):
            # Two loads on one connection, one after the other: each row carries its own load's
            # lineage, so no value folded while planning the first COPY survives into the second.
            first = _direct_load(conn, table, [1, 2, 3])
            assert _lineage_of(conn, table) == _expected(first)
            conn.run(f"DELETE FROM {table}")
            conn.commit()
            second = _direct_load(conn, table, [4, 5])
            assert _lineage_of(conn, table) == _expected(second)
        # Without the settings a row is refused, as before: it can never be written without lineage.
        with pytest.raises(pg8000.DatabaseError, match="eventpulse.ingestion_id"):
            conn.run("INSERT INTO curated_new (id, name, _source_row) VALUES (9, 'x', 1)")
        conn.rollback()
    finally:
        conn.close()


def test_downgrade_restores_the_per_row_defaults(engine) -> None:
    upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.execute(text(OLD_TABLE))
    before = _defaults(engine, "curated_old")
    upgrade(engine)
    assert _defaults(engine, "curated_old") != before

    downgrade(engine, "0010")

    assert _defaults(engine, "curated_old") == before
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'eventpulse_lineage_%'"))
        assert left.scalar() == 0

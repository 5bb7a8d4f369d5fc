"""Migration 0012: every curated table from before gets ``_row_hash`` (rows NULL) and its trigger.

Real Postgres, the real migration runner, a curated table created as revision 0011 left it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pg8000
import pyarrow as pa
from sqlalchemy import Engine, text

from eventpulse.adapters.postgres.curated import PgCuratedLoad
from eventpulse.adapters.postgres.migrate import upgrade
from eventpulse.ports import LineageValues
from eventpulse.schema.model import Column, TableSchema
from tests.integration.migration_support import downgrade, empty_database_engine

SCHEMA = TableSchema.of([Column("id", "integer", False), Column("name", "string")])

# A curated table as revision 0011 created it (no _row_hash), and a table that is not curated.
OLD_TABLES = """
CREATE TABLE curated_old (
  id bigint NOT NULL, name text,
  _ingestion_id uuid NOT NULL DEFAULT eventpulse_lineage_uuid('eventpulse.ingestion_id'),
  _loaded_at timestamptz NOT NULL DEFAULT eventpulse_lineage_timestamptz('eventpulse.loaded_at'),
  _source_sha256 text NOT NULL DEFAULT eventpulse_lineage_text('eventpulse.source_sha256'),
  _source_row bigint NOT NULL,
  _contract_version text NOT NULL DEFAULT eventpulse_lineage_text('eventpulse.contract_version'),
  PRIMARY KEY (id)
);
INSERT INTO curated_old VALUES
  (1, 'a', gen_random_uuid(), now(), repeat('ab', 32), 1, 'v1'),
  (2, 'b', gen_random_uuid(), now(), repeat('ab', 32), 2, 'v1');
CREATE TABLE "not curated" (id int)
"""

engine = empty_database_engine()


def _columns(engine: Engine, table: str) -> list[str]:
    sql = (
        "SELECT attname FROM pg_attribute "
        "WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"
    )
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(sql), {"t": table})]


def _replay(engine: Engine) -> tuple[int, int]:
    url = engine.url
    conn = pg8000.connect(user=url.username, host=url.host, port=url.port or 5432, database=url.database)
    try:
        lineage = LineageValues(str(uuid.uuid4()), "cd" * 32, "v2", datetime.now(UTC))
        load = PgCuratedLoad(conn, "curated_old", SCHEMA, ["id"], lineage, keys_verified_unique=True)
        load.start()
        load.write(
            pa.record_batch(
                [pa.array([1, 2], pa.int64()), pa.array(["a", "B"]), pa.array([1, 2], pa.int64())],
                names=["id", "name", "_source_row"],
            )
        )
        stats = load.finish()
        conn.commit()
        return stats.updated, stats.unchanged
    finally:
        conn.close()


def test_upgrade_adds_the_hash_to_curated_tables_only_and_loads_fill_it(engine) -> None:
    upgrade(engine, "0011")
    with engine.begin() as conn:
        conn.execute(text(OLD_TABLES))
    upgrade(engine)

    assert "_row_hash" in _columns(engine, "curated_old")
    assert "_row_hash" not in _columns(engine, '"not curated"')
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(_row_hash) FROM curated_old")).scalar() == 0

    # The old rows have no hash: the merge compares them, and the changed one gets its hash.
    assert _replay(engine) == (1, 1)
    with engine.connect() as conn:
        hashed = conn.execute(text("SELECT id FROM curated_old WHERE _row_hash IS NOT NULL")).all()
    assert [r[0] for r in hashed] == [2]
    with engine.begin() as conn:  # an edit by hand: the migrated table's trigger forgets the hash
        conn.execute(text("UPDATE curated_old SET name = 'by hand' WHERE id = 2"))
        assert conn.execute(text("SELECT count(_row_hash) FROM curated_old")).scalar() == 0

    downgrade(engine, "0011")
    assert "_row_hash" not in _columns(engine, "curated_old")
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'eventpulse_row_hash_edited'"))
        assert left.scalar() == 0
    assert _replay(engine) == (1, 1)  # loads work on the table without hashes ('by hand' -> 'B')

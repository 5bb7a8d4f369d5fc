"""Row content hashes: every curated table gets ``_row_hash uuid`` (``eventpulse.curate.row_hash``).

A load writes each row's hash beside it; a replay or backfill fetches the table's hashes and stages
only the rows of its file that are not there. Existing rows get NULL (adding a nullable column without
a default rewrites nothing): they are compared by the merge as before, and get their hash when a load
changes them. Each table also gets the trigger that clears the hash of a row updated from outside
EventPulse (``eventpulse.curate.ddl.row_hash_trigger``). A curated table is recognised by its lineage
columns.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from eventpulse.curate.ddl import ROW_HASH_TRIGGER_FUNCTION_SQL, row_hash_trigger

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_CURATED_TABLES = """
SELECT c.oid::regclass AS tbl
FROM pg_class c
WHERE c.relkind IN ('r', 'p') AND c.relnamespace = CAST(current_schema() AS regnamespace)
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = '_source_sha256'
              AND NOT a.attisdropped)
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = '_source_row'
              AND NOT a.attisdropped)
"""


def _each_curated_table(statement: str) -> str:
    """``statement`` (``%1$s``: the table) run for every curated table."""
    return (
        "DO $$ DECLARE r record; BEGIN "
        f"FOR r IN {_CURATED_TABLES} LOOP EXECUTE format({_literal(statement)}, r.tbl); END LOOP; "
        "END $$"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute(ROW_HASH_TRIGGER_FUNCTION_SQL)
    op.execute(_each_curated_table("ALTER TABLE %1$s ADD COLUMN IF NOT EXISTS _row_hash uuid"))
    op.execute(_each_curated_table(row_hash_trigger("%1$s")))


def downgrade() -> None:
    op.execute(_each_curated_table("DROP TRIGGER IF EXISTS eventpulse_row_hash_edited ON %1$s"))
    op.execute(_each_curated_table("ALTER TABLE %1$s DROP COLUMN IF EXISTS _row_hash"))
    op.execute("DROP FUNCTION IF EXISTS eventpulse_row_hash_edited()")

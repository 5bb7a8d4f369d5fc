"""Compact facts for the trends API: one row per expectation result and per drift change.

The quality and drift artifacts are JSONB documents (a quality report carries failing rows and sample
values, a drift artifact two whole schemas); aggregating them for a chart means reading and unpacking
every document in the window. These two narrow tables hold only what the trends group by. They are
written with the artifacts, in the same transaction (``adapters/postgres/stats.py``), and backfilled
here from the artifacts that already exist. Indexes on ``ingestions.created_at`` (and per source)
serve windows that span every dataset.

Revision ID: 0006
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copies of adapters/postgres/stats.py's statements (a migration never imports the app).
BACKFILL_QUALITY = """
INSERT INTO quality_results
    (ingestion_id, position, expectation_type, column_name, severity, success, unexpected_count)
SELECT a.ingestion_id, r.position - 1, r.value ->> 'expectation_type',
       COALESCE(r.value -> 'kwargs' ->> 'column',
                (SELECT string_agg(c, ',') FROM jsonb_array_elements_text(
                    CASE jsonb_typeof(r.value -> 'kwargs' -> 'column_list')
                        WHEN 'array' THEN r.value -> 'kwargs' -> 'column_list' END) AS c),
                concat_ws(',', r.value -> 'kwargs' ->> 'column_A', r.value -> 'kwargs' ->> 'column_B')),
       COALESCE(r.value ->> 'severity', 'critical'), (r.value ->> 'success')::boolean,
       COALESCE((r.value ->> 'unexpected_count')::bigint, 0)
FROM ingestion_artifacts a,
     jsonb_array_elements(CASE jsonb_typeof(a.body -> 'results')
                              WHEN 'array' THEN a.body -> 'results' ELSE '[]'::jsonb END)
         WITH ORDINALITY AS r(value, position)
WHERE a.kind = 'quality'
"""
BACKFILL_DRIFT = """
INSERT INTO drift_changes (ingestion_id, position, outcome, kind, column_name, breaking)
SELECT a.ingestion_id, c.position - 1, a.body -> 'decision' ->> 'outcome', c.value ->> 'kind',
       COALESCE(c.value ->> 'column', ''), COALESCE((c.value ->> 'breaking')::boolean, false)
FROM ingestion_artifacts a,
     jsonb_array_elements(CASE jsonb_typeof(a.body -> 'decision' -> 'changes')
                              WHEN 'array' THEN a.body -> 'decision' -> 'changes' ELSE '[]'::jsonb END)
         WITH ORDINALITY AS c(value, position)
WHERE a.kind = 'drift'
"""


def _ingestion_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "quality_results",
        _ingestion_fk(),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("expectation_type", sa.Text, nullable=False),
        sa.Column("column_name", sa.Text, nullable=False, server_default=""),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("unexpected_count", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "drift_changes",
        _ingestion_fk(),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("column_name", sa.Text, nullable=False, server_default=""),
        sa.Column("breaking", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_ingestions_created_at", "ingestions", ["created_at"])
    op.create_index("ix_ingestions_source_created", "ingestions", ["source", "created_at"])
    op.execute(BACKFILL_QUALITY)
    op.execute(BACKFILL_DRIFT)


def downgrade() -> None:
    op.drop_index("ix_ingestions_source_created", table_name="ingestions")
    op.drop_index("ix_ingestions_created_at", table_name="ingestions")
    op.drop_table("drift_changes")
    op.drop_table("quality_results")

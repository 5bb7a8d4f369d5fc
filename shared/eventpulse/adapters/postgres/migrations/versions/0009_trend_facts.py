"""Compact facts for the trends API: one row per quality report, one per drift change.

The quality and drift artifacts are JSONB documents (a quality report carries failing rows and sample
values, a drift artifact two whole schemas); aggregating them for a chart means reading and unpacking
every document in the window. These two narrow tables hold only what the trends group by. A
quality summary names its report's list of expectations (type, column, severity) by a key into
``expectation_sets`` (the md5 of the list: one per contract version, in practice), so the reports
of a bucket are counted per list, the few lists are unnested once, and only failing positions are
stored per ingestion. One row per result was measured several times slower (docs/BENCHMARKS.md). They are
written with the artifacts, in the same transaction (``adapters/postgres/stats.py``), and backfilled
here from the artifacts that already exist. Indexes on ``ingestions.created_at`` (and per source)
serve windows that span every dataset.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copies of adapters/postgres/stats.py's statements (a migration never imports the app).
BACKFILL_QUALITY = """
WITH results AS (
    SELECT a.ingestion_id, (r.position - 1)::integer AS position, r.value ->> 'expectation_type' AS kind,
           COALESCE(r.value -> 'kwargs' ->> 'column',
                  (SELECT string_agg(c, ',') FROM jsonb_array_elements_text(
                      CASE jsonb_typeof(r.value -> 'kwargs' -> 'column_list')
                          WHEN 'array' THEN r.value -> 'kwargs' -> 'column_list' END) AS c),
                  concat_ws(',', r.value -> 'kwargs' ->> 'column_A',
                            r.value -> 'kwargs' ->> 'column_B')) AS column_name,
           COALESCE(r.value ->> 'severity', 'critical') AS severity,
           COALESCE((r.value ->> 'success')::boolean, false) AS success,
           COALESCE((r.value ->> 'unexpected_count')::bigint, 0) AS unexpected
    FROM ingestion_artifacts a,
         jsonb_array_elements(CASE jsonb_typeof(a.body -> 'results')
                                  WHEN 'array' THEN a.body -> 'results' ELSE '[]'::jsonb END)
             WITH ORDINALITY AS r(value, position)
    WHERE a.kind = 'quality'
), summaries AS (
    SELECT ingestion_id,
           array_agg(kind ORDER BY position) AS kinds,
           array_agg(column_name ORDER BY position) AS column_names,
           array_agg(severity ORDER BY position) AS severities,
           COALESCE(array_agg(position ORDER BY position) FILTER (WHERE NOT success), '{}') AS failed,
           COALESCE(array_agg(unexpected ORDER BY position) FILTER (WHERE NOT success), '{}')
               AS unexpected
    FROM results GROUP BY ingestion_id
), keyed AS (
    SELECT *, md5(array_to_json(kinds)::text || array_to_json(column_names)::text
                  || array_to_json(severities)::text) AS expectation_set
    FROM summaries
), sets AS (
    INSERT INTO expectation_sets (id, expectation_types, column_names, severities)
    SELECT DISTINCT expectation_set, kinds, column_names, severities FROM keyed
    ON CONFLICT (id) DO NOTHING
)
INSERT INTO quality_summaries (ingestion_id, expectation_set, failed, unexpected)
SELECT ingestion_id, expectation_set, failed, unexpected FROM keyed
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
        "expectation_sets",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("expectation_types", ARRAY(sa.Text), nullable=False),
        sa.Column("column_names", ARRAY(sa.Text), nullable=False),
        sa.Column("severities", ARRAY(sa.Text), nullable=False),
    )
    op.create_table(
        "quality_summaries",
        _ingestion_fk(),
        sa.Column("expectation_set", sa.Text, nullable=False),
        sa.Column("failed", ARRAY(sa.Integer), nullable=False),
        sa.Column("unexpected", ARRAY(sa.BigInteger), nullable=False),
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
    op.drop_table("quality_summaries")
    op.drop_table("expectation_sets")

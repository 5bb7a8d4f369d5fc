"""Lineage defaults read once per COPY: the ``eventpulse_lineage_<type>`` functions.

A curated table's per-load lineage columns used to default to ``CAST(current_setting(...) AS type)``,
which Postgres evaluates for every row a COPY stores. They now default to IMMUTABLE functions reading
the same settings, which the planner folds to a constant when it plans the COPY (see
``eventpulse.curate.ddl.LINEAGE_FUNCTIONS_SQL`` for why that is safe). This revision creates the
functions and moves the defaults of every existing curated table over; values and NOT NULL stay.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from eventpulse.curate.ddl import LINEAGE_FUNCTION_TYPES, LINEAGE_FUNCTIONS_SQL

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Every column default that reads an eventpulse.* setting, with the setting and the column's type.
_DEFAULTS = r"""
SELECT d.adrelid::regclass AS tbl, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS typ,
       substring(pg_get_expr(d.adbin, d.adrelid) FROM '''(eventpulse\.[a-z0-9_]+)''') AS setting
FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE pg_get_expr(d.adbin, d.adrelid) ~ {pattern}
"""


def _rewrite(pattern: str, default: str) -> str:
    """Set every matching default to ``default`` (format(): %3$s the short type, %4$L the setting)."""
    short = "CASE r.typ WHEN 'timestamp with time zone' THEN 'timestamptz' ELSE r.typ END"
    return (
        "DO $$ DECLARE r record; BEGIN "
        f"FOR r IN {_DEFAULTS.format(pattern=pattern)} LOOP "
        f"EXECUTE format('ALTER TABLE %1$s ALTER COLUMN %2$I SET DEFAULT {default}', "
        f"r.tbl, r.col, {short}, r.setting); "
        "END LOOP; END $$"
    )


def upgrade() -> None:
    for sql in LINEAGE_FUNCTIONS_SQL:
        op.execute(sql)
    op.execute(_rewrite(r"'current_setting\(''eventpulse\.'", "eventpulse_lineage_%3$s(%4$L)"))


def downgrade() -> None:
    op.execute(
        _rewrite(r"'eventpulse_lineage_[a-z]+\(''eventpulse\.'", "CAST(current_setting(%4$L) AS %3$s)")
    )
    for pg_type in LINEAGE_FUNCTION_TYPES:
        op.execute(f"DROP FUNCTION IF EXISTS eventpulse_lineage_{pg_type}(text)")

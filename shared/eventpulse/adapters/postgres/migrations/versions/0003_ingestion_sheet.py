"""The sheet is part of an ingestion's identity: one original per (dataset, sha256, sheet).

Before, a workbook's second sheet could never be ingested: the same bytes were one ingestion,
whatever sheet was asked for. ``sheet`` is '' for files that are not workbooks and for a workbook's
first sheet when none was named; a name otherwise; ``[n]`` for a contract's 0-based index n > 0
(Excel forbids brackets in sheet names, so it never collides with a name). Existing rows take the
sheet of their options; old originals were unique per (dataset, sha256), so the new index holds.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ingestions", sa.Column("sheet", sa.Text, nullable=False, server_default=""))
    op.execute(
        """
        UPDATE ingestions SET sheet = CASE jsonb_typeof(options -> 'sheet')
            WHEN 'string' THEN options ->> 'sheet'
            WHEN 'number' THEN CASE WHEN (options ->> 'sheet')::numeric = 0 THEN ''
                                    ELSE '[' || (options ->> 'sheet') || ']' END
            ELSE '' END
        WHERE options ? 'sheet'
        """
    )
    op.create_index(
        "ux_ingestions_dataset_sha256_sheet_original",
        "ingestions",
        ["dataset", "sha256", "sheet"],
        unique=True,
        postgresql_where=sa.text("replay_of IS NULL"),
    )
    op.drop_index("ux_ingestions_dataset_sha256_original", table_name="ingestions")


def downgrade() -> None:
    # Only possible while no bytes were ingested as two sheets: the old index cannot hold them.
    op.create_index(
        "ux_ingestions_dataset_sha256_original",
        "ingestions",
        ["dataset", "sha256"],
        unique=True,
        postgresql_where=sa.text("replay_of IS NULL"),
    )
    op.drop_index("ux_ingestions_dataset_sha256_sheet_original", table_name="ingestions")
    op.drop_column("ingestions", "sheet")

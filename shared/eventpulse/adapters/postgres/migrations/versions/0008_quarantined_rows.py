"""Row-level quarantine: ``quarantined_rows`` (the dead-letter store) and ``ingestions.rows_quarantined``.

A contract may hold back the rows that fail an expectation instead of failing the whole file; the
held rows, and the rows and values a ``discard_row``/``discard_value`` drift policy removed, are kept
here with their failures and values as read. Paging is by ``id`` (keyset); the indexes serve the
API's filters (dataset, status, device, ingestion, expectation type via the GIN index on failures).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ingestions", sa.Column("rows_quarantined", sa.BigInteger))
    op.create_table(
        "quarantined_rows",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("source_row", sa.BigInteger, nullable=False),
        sa.Column("sheet", sa.Text, nullable=False, server_default=""),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("failures", JSONB, nullable=False),
        sa.Column("values", JSONB, nullable=False),
        sa.Column("contract_version", sa.Text, nullable=False),
        sa.Column("raw_uri", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolution_reason", sa.Text),
        sa.Column("replay_ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint(
            "kind IN ('expectation', 'discard_row', 'discard_value')", name="ck_quarantined_rows_kind"
        ),
        sa.CheckConstraint("status IN ('held', 'replayed', 'discarded')", name="ck_quarantined_rows_status"),
    )
    op.create_index("ix_quarantined_rows_ingestion_row", "quarantined_rows", ["ingestion_id", "source_row"])
    op.create_index("ix_quarantined_rows_dataset_id", "quarantined_rows", ["dataset", "id"])
    op.create_index("ix_quarantined_rows_status_id", "quarantined_rows", ["status", "id"])
    op.create_index(
        "ix_quarantined_rows_device_id",
        "quarantined_rows",
        ["device_id", "id"],
        postgresql_where=sa.text("device_id IS NOT NULL"),
    )
    op.create_index(
        "ix_quarantined_rows_failures",
        "quarantined_rows",
        ["failures"],
        postgresql_using="gin",
        postgresql_ops={"failures": "jsonb_path_ops"},
    )


def downgrade() -> None:
    op.drop_table("quarantined_rows")
    op.drop_column("ingestions", "rows_quarantined")

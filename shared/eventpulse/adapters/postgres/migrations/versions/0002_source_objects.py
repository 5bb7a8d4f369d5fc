"""Source objects of GCS finalize events and backfills; raw_key lookups for duplicate deliveries.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_objects",
        sa.Column("bucket", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("generation", sa.BigInteger, primary_key=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="CASCADE")),
        sa.Column("reason", sa.Text),
        sa.Column("sha256", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint(
            "outcome IN ('registered', 'duplicate', 'rejected')", name="ck_source_objects_outcome"
        ),
    )
    op.create_index("ix_source_objects_ingestion", "source_objects", ["ingestion_id"])
    # A finalize event for an object the API itself landed (same name) is a duplicate: find it by key.
    op.create_index("ix_ingestions_raw_key", "ingestions", ["raw_key"])


def downgrade() -> None:
    op.drop_index("ix_ingestions_raw_key", table_name="ingestions")
    op.drop_table("source_objects")

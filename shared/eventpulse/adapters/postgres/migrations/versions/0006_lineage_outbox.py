"""The lineage outbox: OpenLineage events waiting to be pushed to a receiver.

A row is written in the same transaction as the state change that produced its event (the claim
for START, the final transition for COMPLETE or FAIL), so an event exists exactly when its state
does; senders drain it after the commit and retry with back-off (docs/LINEAGE.md).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("event", JSONB, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    # Senders look only at unsent rows, oldest first, and per ingestion.
    op.create_index(
        "ix_lineage_outbox_pending",
        "lineage_outbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index("ix_lineage_outbox_ingestion", "lineage_outbox", ["ingestion_id", "id"])


def downgrade() -> None:
    op.drop_table("lineage_outbox")

"""Initial metadata schema: ingestions, artifacts, datasets, schema history, contracts, audit.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")
EMPTY_JSON = sa.text("'{}'::jsonb")


def _ts(name: str, **kw: object) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "ingestions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("raw_key", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("replay_of", sa.Uuid, sa.ForeignKey("ingestions.id"), nullable=True),
        sa.Column("options", JSONB, nullable=False, server_default=EMPTY_JSON),
        sa.Column("claimed_by", sa.Text),
        _ts("heartbeat_at"),
        _ts("enqueued_at"),
        _ts("created_at", nullable=False, server_default=NOW),
        _ts("updated_at", nullable=False, server_default=NOW),
        _ts("finished_at"),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("error", JSONB),
        sa.Column("contract_version", sa.Text),
        sa.Column("schema_fingerprint", sa.Text),
        sa.Column("rows_total", sa.BigInteger),
        sa.Column("rows_loaded", sa.BigInteger),
        sa.Column("rows_rejected", sa.BigInteger),
        sa.Column("rows_processed", sa.BigInteger),
        sa.CheckConstraint("attempts >= 0", name="ck_ingestions_attempts"),
    )
    op.create_index("ix_ingestions_dataset_created", "ingestions", ["dataset", "created_at"])
    op.create_index("ix_ingestions_status", "ingestions", ["status"])
    op.create_index(
        "ux_ingestions_dataset_sha256_original",
        "ingestions",
        ["dataset", "sha256"],
        unique=True,
        postgresql_where=sa.text("replay_of IS NULL"),
    )
    op.create_table(
        "ingestion_artifacts",
        sa.Column(
            "ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("body", JSONB, nullable=False),
        _ts("created_at", nullable=False, server_default=NOW),
    )
    op.create_table(
        "datasets",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("curated_table", sa.Text, nullable=False),
        sa.Column("curated_schema", JSONB),
        sa.Column("primary_key", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("contract_version", sa.Text),
        _ts("created_at", nullable=False, server_default=NOW),
        _ts("updated_at", nullable=False, server_default=NOW),
    )
    op.create_table(
        "dataset_schemas",
        sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("schema", JSONB, nullable=False),
        sa.Column("contract_version", sa.Text),
        sa.Column("ingestion_id", sa.Uuid, sa.ForeignKey("ingestions.id", ondelete="SET NULL")),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("accepted_by", sa.Text, nullable=False),
        _ts("accepted_at", nullable=False, server_default=NOW),
    )
    op.create_table(
        "contract_versions",
        sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("body", JSONB, nullable=False),
        _ts("first_seen_at", nullable=False, server_default=NOW),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        _ts("at", nullable=False, server_default=NOW),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("entity_type", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("dataset", sa.Text),
        sa.Column("details", JSONB, nullable=False, server_default=EMPTY_JSON),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_entity", "audit_events", ["entity_type", "entity_id"])
    op.create_index("ix_audit_events_dataset_at", "audit_events", ["dataset", "at"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "contract_versions",
        "dataset_schemas",
        "datasets",
        "ingestion_artifacts",
        "ingestions",
    ):
        op.drop_table(table)

"""SQLAlchemy Core table definitions of the metadata schema (migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

NOW = text("now()")

ingestions = Table(
    "ingestions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("dataset", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("raw_key", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("replay_of", Uuid, ForeignKey("ingestions.id"), nullable=True),
    Column("options", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # Part of the identity: '' (not a workbook, or its first sheet), a sheet name, or "[n]" (an index).
    Column("sheet", Text, nullable=False, server_default=""),
    Column("claimed_by", Text),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("enqueued_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("finished_at", DateTime(timezone=True)),
    Column("created_by", Text, nullable=False),
    Column("error", JSONB),
    Column("contract_version", Text),
    Column("schema_fingerprint", Text),
    Column("rows_total", BigInteger),
    Column("rows_loaded", BigInteger),
    Column("rows_rejected", BigInteger),
    Column("rows_processed", BigInteger),
    Column("rows_quarantined", BigInteger),
    Index("ix_ingestions_dataset_created", "dataset", "created_at"),
    Index("ix_ingestions_status", "status"),
    Index("ix_ingestions_raw_key", "raw_key"),
    Index("ix_ingestions_created_at", "created_at"),
    Index("ix_ingestions_source_created", "source", "created_at"),
    Index(
        "ux_ingestions_dataset_sha256_sheet_original",
        "dataset",
        "sha256",
        "sheet",
        unique=True,
        postgresql_where=text("replay_of IS NULL"),
    ),
)

source_objects = Table(
    "source_objects",
    metadata,
    # One row per storage object generation a finalize event or a backfill named: the idempotency
    # key of event registration, so a redelivered event costs one primary-key lookup.
    Column("bucket", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("generation", BigInteger, primary_key=True),
    Column("outcome", Text, nullable=False),
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="CASCADE")),
    Column("reason", Text),
    Column("sha256", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_source_objects_ingestion", "ingestion_id"),
)

ingestion_artifacts = Table(
    "ingestion_artifacts",
    metadata,
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("body", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

lineage_outbox = Table(
    "lineage_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="CASCADE"), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event", JSONB, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("last_error", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_lineage_outbox_pending", "next_attempt_at", "id", postgresql_where=text("sent_at IS NULL")),
    Index("ix_lineage_outbox_ingestion", "ingestion_id", "id"),
)

# The trends' compact facts (migration 0006), written with the quality and drift artifacts.
expectation_sets = Table(
    "expectation_sets",
    metadata,
    # One list of a quality report's expectations, in its order, keyed by the md5 of the list.
    # A column is the expectation's column; column_list and column_A/column_B joined by commas;
    # '' for a table check.
    Column("id", Text, primary_key=True),
    Column("expectation_types", ARRAY(Text), nullable=False),
    Column("column_names", ARRAY(Text), nullable=False),
    Column("severities", ARRAY(Text), nullable=False),
)

quality_summaries = Table(
    "quality_summaries",
    metadata,
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="CASCADE"), primary_key=True),
    Column("expectation_set", Text, nullable=False),
    # The 0-based positions (in the set) of the failing results, and their unexpected_count.
    Column("failed", ARRAY(Integer), nullable=False),
    Column("unexpected", ARRAY(BigInteger), nullable=False),
)

drift_changes = Table(
    "drift_changes",
    metadata,
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("outcome", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("column_name", Text, nullable=False, server_default=""),
    Column("breaking", Boolean, nullable=False, server_default=text("false")),
)

datasets = Table(
    "datasets",
    metadata,
    Column("name", Text, primary_key=True),
    Column("curated_table", Text, nullable=False),
    Column("curated_schema", JSONB),
    Column("primary_key", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("contract_version", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # The sheet names of the last workbook loaded (migration 0008): a sheet added or removed is drift.
    Column("workbook_sheets", JSONB),
)

dataset_schemas = Table(
    "dataset_schemas",
    metadata,
    Column("dataset", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("schema", JSONB, nullable=False),
    Column("contract_version", Text),
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="SET NULL")),
    Column("reason", Text, nullable=False),
    Column("accepted_by", Text, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

contract_versions = Table(
    "contract_versions",
    metadata,
    Column("dataset", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("body", JSONB, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

contract_adoptions = Table(
    "contract_adoptions",
    metadata,
    # One row each time a dataset's contract changed: the newest row per dataset is current.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("dataset", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("adopted_by", Text, nullable=False),
    Column("adopted_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("note", Text),
    Index("ix_contract_adoptions_dataset_id", "dataset", "id"),
)

marts = Table(
    "marts",
    metadata,
    # One row per declared mart: its view, the policy, and how its last (re)creation went.
    Column("name", Text, primary_key=True),
    Column("dataset", Text, nullable=False),
    Column("view_name", Text, nullable=False, unique=True),
    Column("sql", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("owner", Text, nullable=False, server_default=""),
    Column("freshness", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("contract_version", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_marts_dataset", "dataset"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("dataset", Text),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_entity", "entity_type", "entity_id"),
    Index("ix_audit_events_dataset_at", "dataset", "at"),
)

quarantined_rows = Table(
    "quarantined_rows",
    metadata,
    # One row of a file that was not loaded as it was read: held back by a quarantine expectation
    # (kind ``expectation``), removed by a ``discard_row`` drift policy, or loaded with values nulled
    # by ``discard_value``. Nothing leaves a file without a trace here.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="CASCADE"), nullable=False),
    Column("dataset", Text, nullable=False),
    Column("source_row", BigInteger, nullable=False),
    Column("sheet", Text, nullable=False, server_default=""),
    Column("kind", Text, nullable=False),
    Column("failures", JSONB, nullable=False),
    Column("values", JSONB, nullable=False),
    Column("contract_version", Text, nullable=False),
    Column("raw_uri", Text, nullable=False),
    Column("device_id", Text),
    Column("status", Text, nullable=False),
    Column("resolved_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution_reason", Text),
    Column("replay_ingestion_id", Uuid, ForeignKey("ingestions.id", ondelete="SET NULL")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(
        "kind IN ('expectation', 'discard_row', 'discard_value')", name="ck_quarantined_rows_kind"
    ),
    CheckConstraint("status IN ('held', 'replayed', 'discarded')", name="ck_quarantined_rows_status"),
    Index("ix_quarantined_rows_ingestion_row", "ingestion_id", "source_row"),
    Index("ix_quarantined_rows_dataset_id", "dataset", "id"),
    Index("ix_quarantined_rows_status_id", "status", "id"),
    Index("ix_quarantined_rows_device_id", "device_id", "id", postgresql_where=text("device_id IS NOT NULL")),
    Index(
        "ix_quarantined_rows_failures",
        "failures",
        postgresql_using="gin",
        postgresql_ops={"failures": "jsonb_path_ops"},
    ),
)

"""The device registry on Postgres: devices, their thresholds, alerts, commands and media records.

Secrets are kept only as keyed hashes (``token_hash`` is unique: ``Authorization: Bearer`` alone finds
its device by it). At most one open alert per (device, kind, sensor): a partial unique index, so
raising an alert twice from two workers updates one row. Fleet-wide thresholds use ``device_id = ''``.
Deleting a device cascades to everything here; its curated rows and raw files stay.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _device_fk() -> sa.Column[str]:
    return sa.Column(
        "device_id", sa.Text, sa.ForeignKey("devices.device_id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("group_name", sa.Text, nullable=False, server_default=""),
        sa.Column("datasets", JSONB, nullable=False, server_default="[]"),
        sa.Column("cadence_seconds", sa.Float),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("token_rotated_at", TS, nullable=False),
        sa.Column("fingerprint_hash", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("last_seen_at", TS),
        sa.Column("health", JSONB, nullable=False, server_default="{}"),
        sa.Column("revoked_at", TS),
        sa.Column("revoked_by", sa.Text),
        sa.Column("updated_at", TS),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="devices_status"),
    )
    op.create_index("devices_group", "devices", ["group_name", "device_id"])
    op.create_index("devices_last_seen", "devices", ["last_seen_at"])
    op.create_table(
        "device_thresholds",
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("sensor", sa.Text, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("warning", sa.Float),
        sa.Column("critical", sa.Float),
        sa.PrimaryKeyConstraint("device_id", "sensor"),
    )
    op.create_table(
        "device_alerts",
        sa.Column("alert_id", sa.Uuid, primary_key=True),
        _device_fk(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("sensor", sa.Text, nullable=False, server_default=""),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("limit_value", sa.Float),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("acknowledged_at", TS),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("resolved_at", TS),
    )
    op.create_index(
        "device_alerts_one_open",
        "device_alerts",
        ["device_id", "kind", "sensor"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("device_alerts_newest", "device_alerts", [sa.text("opened_at DESC"), "alert_id"])
    op.create_table(
        "device_commands",
        sa.Column("command_id", sa.Text, primary_key=True),
        _device_fk(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("group_name", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("result", JSONB),
    )
    op.create_index("device_commands_device", "device_commands", ["device_id", "status", "created_at"])
    op.create_index("device_commands_newest", "device_commands", [sa.text("created_at DESC"), "command_id"])
    op.create_table(
        "device_media",
        sa.Column("media_id", sa.Text, primary_key=True),
        _device_fk(),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("captured_at", TS),
    )
    op.create_index("device_media_newest", "device_media", ["device_id", sa.text("created_at DESC")])


def downgrade() -> None:
    for table in ("device_media", "device_commands", "device_alerts", "device_thresholds", "devices"):
        op.drop_table(table)

"""Alembic environment: runs on the connection handed over by eventpulse.adapters.migrate."""

from __future__ import annotations

from alembic import context

from eventpulse.adapters.postgres.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `eventpulse migrate` (eventpulse.adapters.postgres.migrate.upgrade)"
    )

context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()

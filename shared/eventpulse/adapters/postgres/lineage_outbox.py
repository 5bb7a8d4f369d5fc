"""The lineage outbox aggregate: OpenLineage events queued with the state they report, until pushed.

Leasing pushes ``next_attempt_at`` forward instead of holding row locks across the HTTP call, so no
transaction stays open while a receiver is slow; a sender that dies mid-push only delays its events
by the lease. Only the oldest unsent event of each ingestion is ever handed out, and leases are taken
one sender at a time (a transaction-scoped advisory lock): each run's events reach the receiver in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, select, text, update

from eventpulse.adapters.postgres.tables import lineage_outbox
from eventpulse.ports import OutboxEvent, Row

_LEASE_LOCK = 0x4C494E45  # "LINE": serialises lease_due across senders, for this transaction only
_ERROR_CHARS = 2000


class PgLineageOutbox:
    def __init__(self, conn: Connection):
        self._conn = conn

    def add(self, ingestion_id: uuid.UUID, event: Mapping[str, Any]) -> None:
        self._conn.execute(
            insert(lineage_outbox).values(
                ingestion_id=ingestion_id, event_type=str(event.get("eventType", "")), event=dict(event)
            )
        )

    def lease_due(
        self, *, limit: int, lease_seconds: float, ingestion_id: uuid.UUID | None = None
    ) -> list[OutboxEvent]:
        self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LEASE_LOCK})
        t = lineage_outbox
        earlier = lineage_outbox.alias("earlier")
        # Only the oldest unsent event of an ingestion is ever due: the next waits for it to go.
        waiting = exists().where(
            earlier.c.ingestion_id == t.c.ingestion_id,
            earlier.c.id < t.c.id,
            earlier.c.sent_at.is_(None),
        )
        query = (
            select(t.c.id, t.c.ingestion_id, t.c.event, t.c.attempts)
            .where(and_(t.c.sent_at.is_(None), t.c.next_attempt_at <= func.now(), ~waiting))
            .order_by(t.c.id)
            .limit(limit)
        )
        if ingestion_id is not None:
            query = query.where(t.c.ingestion_id == ingestion_id)
        rows = self._conn.execute(query).all()
        if rows:
            self._conn.execute(
                update(t)
                .where(t.c.id.in_([r.id for r in rows]))
                .values(next_attempt_at=func.now() + timedelta(seconds=lease_seconds))
            )
        return [OutboxEvent(r.id, r.ingestion_id, dict(r.event), r.attempts) for r in rows]

    def mark_sent(self, event_id: int) -> None:
        self._conn.execute(
            update(lineage_outbox)
            .where(lineage_outbox.c.id == event_id)
            .values(sent_at=func.now(), attempts=lineage_outbox.c.attempts + 1, last_error=None)
        )

    def mark_failed(self, event_id: int, *, error: str, retry_in_seconds: float) -> None:
        self._conn.execute(
            update(lineage_outbox)
            .where(lineage_outbox.c.id == event_id, lineage_outbox.c.sent_at.is_(None))
            .values(
                attempts=lineage_outbox.c.attempts + 1,
                last_error=error[:_ERROR_CHARS],
                next_attempt_at=func.now() + timedelta(seconds=retry_in_seconds),
            )
        )

    def events(self, ingestion_id: uuid.UUID) -> list[Row]:
        rows = self._conn.execute(
            select(lineage_outbox)
            .where(lineage_outbox.c.ingestion_id == ingestion_id)
            .order_by(lineage_outbox.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def count_pending(self) -> int:
        query = select(func.count()).select_from(lineage_outbox).where(lineage_outbox.c.sent_at.is_(None))
        return int(self._conn.execute(query).scalar_one())

"""The audit log aggregate: append-only events of who did what (the ``AuditLog`` port)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select

from eventpulse.adapters.postgres.tables import audit_events
from eventpulse.ports import Page


class PgAuditLog:
    def __init__(self, conn: Connection):
        self._conn = conn

    def record(
        self,
        *,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: str,
        dataset: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self._conn.execute(
            insert(audit_events).values(
                actor=actor,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                dataset=dataset,
                details=dict(details or {}),
            )
        )

    def page(
        self,
        *,
        dataset: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        conditions = []
        if dataset:
            conditions.append(audit_events.c.dataset == dataset)
        if entity_id:
            conditions.append(audit_events.c.entity_id == entity_id)
        if action:
            conditions.append(audit_events.c.action == action)
        if since:
            conditions.append(audit_events.c.at >= since)
        where = and_(True, *conditions)
        total = self._conn.execute(select(func.count()).select_from(audit_events).where(where)).scalar_one()
        rows = self._conn.execute(
            select(audit_events).where(where).order_by(audit_events.c.id.desc()).limit(limit).offset(offset)
        ).all()
        return Page([dict(r._mapping) for r in rows], int(total))

    def count_before(self, cutoff: datetime) -> int:
        stmt = select(func.count()).select_from(audit_events).where(audit_events.c.at < cutoff)
        return int(self._conn.execute(stmt).scalar_one())

    def delete_before(self, cutoff: datetime, *, limit: int) -> int:
        oldest = select(audit_events.c.id).where(audit_events.c.at < cutoff).limit(limit).scalar_subquery()
        return int(self._conn.execute(delete(audit_events).where(audit_events.c.id.in_(oldest))).rowcount)

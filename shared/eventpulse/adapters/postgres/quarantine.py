"""The quarantine aggregate: rows held back or discarded, with why and as read (``QuarantinedRows``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select, text, update

from eventpulse.adapters.postgres.audit import PgAuditLog
from eventpulse.adapters.postgres.tables import quarantined_rows as q
from eventpulse.ports import NewQuarantinedRow, QuarantineFilter, QuarantineOrigin, Row
from eventpulse.ports.store import QuarantineStatus

INSERT_CHUNK = 10_000
"""Rows per INSERT. Each chunk is one JSON parameter that Postgres unpacks (``jsonb_to_recordset``):
a multi-row VALUES with a bind parameter per field cost SQLAlchemy ~1 s of compiling per 1,000 rows."""

INSERT_FROM_JSON = text(
    """
    INSERT INTO quarantined_rows (ingestion_id, dataset, sheet, contract_version, raw_uri, device_id,
        source_row, kind, failures, "values", status, resolution_reason, resolved_by, resolved_at)
    SELECT :ingestion_id, :dataset, :sheet, :contract_version, :raw_uri, :device_id,
        r.source_row, r.kind, r.failures, r."values", r.status, r.resolution_reason,
        CASE WHEN r.status <> 'held' THEN :actor END, CASE WHEN r.status <> 'held' THEN now() END
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(source_row bigint, kind text, failures jsonb,
        "values" jsonb, status text, resolution_reason text)
    ORDER BY r.source_row
    """
)


class PgQuarantinedRows:
    def __init__(self, conn: Connection, audit: PgAuditLog):
        self._conn = conn
        self._audit = audit

    def add(self, origin: QuarantineOrigin, rows: Sequence[NewQuarantinedRow], *, actor: str) -> int:
        if not rows:
            return 0
        shared = {
            "ingestion_id": origin.ingestion_id,
            "dataset": origin.dataset,
            "sheet": origin.sheet,
            "contract_version": origin.contract_version,
            "raw_uri": origin.raw_uri,
            "device_id": origin.device_id,
            "actor": actor,
        }
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = [_record(r) for r in rows[start : start + INSERT_CHUNK]]
            self._conn.execute(INSERT_FROM_JSON, {**shared, "rows": json.dumps(chunk)})
        kinds: dict[str, int] = {}
        for r in rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        self._audit.record(
            actor=actor,
            action="quarantine.recorded",
            entity_type="ingestion",
            entity_id=str(origin.ingestion_id),
            dataset=origin.dataset,
            details={"rows": len(rows), "by_kind": kinds},
        )
        return len(rows)

    def page(self, where: QuarantineFilter, *, limit: int, after: int | None = None) -> list[Row]:
        condition = _condition(where)
        if after is not None:
            condition = and_(condition, q.c.id > after)
        rows = self._conn.execute(select(q).where(condition).order_by(q.c.id).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    def count(self, where: QuarantineFilter) -> int:
        stmt = select(func.count()).select_from(q).where(_condition(where))
        return int(self._conn.execute(stmt).scalar_one())

    def lock(self, where: QuarantineFilter, *, limit: int) -> list[Row]:
        stmt = select(q).where(_condition(where)).order_by(q.c.id).limit(limit).with_for_update()
        return [dict(r._mapping) for r in self._conn.execute(stmt).all()]

    def resolve(
        self,
        ids: Sequence[int],
        *,
        status: QuarantineStatus,
        actor: str,
        reason: str | None,
        replay_ingestion_id: uuid.UUID | None = None,
    ) -> int:
        if not ids:
            return 0
        stmt = (
            update(q)
            .where(q.c.id.in_([int(i) for i in ids]), q.c.status == "held")
            .values(
                status=status,
                resolved_by=actor,
                resolved_at=func.now(),
                resolution_reason=reason,
                replay_ingestion_id=replay_ingestion_id,
            )
        )
        return int(self._conn.execute(stmt).rowcount)

    def update_failures(
        self, row_id: int, *, failures: Sequence[Mapping[str, Any]], contract_version: str
    ) -> None:
        stmt = (
            update(q)
            .where(q.c.id == int(row_id))
            .values(failures=[dict(f) for f in failures], contract_version=contract_version)
        )
        self._conn.execute(stmt)


def _record(row: NewQuarantinedRow) -> dict[str, Any]:
    return {
        "source_row": int(row.source_row),
        "kind": row.kind,
        "failures": [dict(f) for f in row.failures],
        "values": dict(row.values),
        "status": row.status,
        "resolution_reason": row.resolution_reason,
    }


def _condition(where: QuarantineFilter) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if where.dataset:
        conditions.append(q.c.dataset == where.dataset)
    if where.ingestion_id:
        conditions.append(q.c.ingestion_id == where.ingestion_id)
    if where.device_id:
        conditions.append(q.c.device_id == where.device_id)
    if where.status:
        conditions.append(q.c.status == where.status)
    if where.kind:
        conditions.append(q.c.kind == where.kind)
    if where.ids is not None:
        conditions.append(q.c.id.in_([int(i) for i in where.ids]))
    if where.expectation:
        # jsonb containment, served by the GIN (jsonb_path_ops) index on failures
        conditions.append(q.c.failures.contains([{"expectation_type": where.expectation}]))
    return and_(True, *conditions)

"""The ingestion aggregate: an ingestion's row, its claim, its state changes and its artifacts.

Every state change is a compare-and-set (a conditional UPDATE) written with its audit event on the
same transaction, so a change and the record of who made it commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from eventpulse.adapters.postgres import maintenance
from eventpulse.adapters.postgres.audit import PgAuditLog
from eventpulse.adapters.postgres.stats import write_trend_facts
from eventpulse.adapters.postgres.tables import ingestion_artifacts, ingestions
from eventpulse.ports import NewIngestion, Page, Row
from eventpulse.states import CLAIMABLE, Status, is_allowed


def _row(result_row: Any) -> Row:
    return dict(result_row._mapping)


def _seconds_ago(seconds: float) -> Any:
    return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


class PgIngestions:
    def __init__(self, conn: Connection, audit: PgAuditLog):
        self._conn = conn
        self._audit = audit

    # --- registration and reads -------------------------------------------------------------------

    def register(self, new: NewIngestion) -> tuple[Row, bool]:
        stmt = (
            pg_insert(ingestions)
            .values(
                id=uuid.uuid4(),
                dataset=new.dataset,
                filename=new.filename,
                source=new.source,
                raw_key=new.raw_key,
                sha256=new.sha256,
                size_bytes=new.size_bytes,
                status=Status.RECEIVED.value,
                max_attempts=new.max_attempts,
                replay_of=new.replay_of,
                options=dict(new.options or {}),
                sheet=new.sheet,
                created_by=new.created_by,
            )
            .on_conflict_do_nothing(
                index_elements=["dataset", "sha256", "sheet"], index_where=ingestions.c.replay_of.is_(None)
            )
            .returning(*ingestions.c)
        )
        created = self._conn.execute(stmt).first()
        if created is None:
            existing = self._conn.execute(
                select(ingestions).where(
                    ingestions.c.dataset == new.dataset,
                    ingestions.c.sha256 == new.sha256,
                    ingestions.c.sheet == new.sheet,
                    ingestions.c.replay_of.is_(None),
                )
            ).one()
            return _row(existing), False
        row = _row(created)
        self._audit.record(
            actor=new.created_by,
            action="ingestion.replayed" if new.replay_of else "ingestion.registered",
            entity_type="ingestion",
            entity_id=str(row["id"]),
            dataset=new.dataset,
            details={
                "filename": new.filename,
                "source": new.source,
                "sha256": new.sha256,
                "size_bytes": new.size_bytes,
                "raw_key": new.raw_key,
                **({"sheet": new.sheet} if new.sheet else {}),
                **({"replay_of": str(new.replay_of)} if new.replay_of else {}),
            },
        )
        return row, True

    def get(self, ingestion_id: uuid.UUID) -> Row | None:
        found = self._conn.execute(select(ingestions).where(ingestions.c.id == ingestion_id)).first()
        return _row(found) if found else None

    def lock(self, ingestion_id: uuid.UUID) -> Row | None:
        found = self._conn.execute(
            select(ingestions).where(ingestions.c.id == ingestion_id).with_for_update()
        ).first()
        return _row(found) if found else None

    def page(
        self,
        *,
        dataset: str | None = None,
        statuses: Sequence[str] = (),
        source: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        conditions = []
        if dataset:
            conditions.append(ingestions.c.dataset == dataset)
        if source:
            conditions.append(ingestions.c.source == source)
        if statuses:
            conditions.append(ingestions.c.status.in_(list(statuses)))
        where = and_(True, *conditions)
        total = self._conn.execute(select(func.count()).select_from(ingestions).where(where)).scalar_one()
        rows = self._conn.execute(
            select(ingestions)
            .where(where)
            .order_by(ingestions.c.created_at.desc(), ingestions.c.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return Page([_row(r) for r in rows], int(total))

    # --- state changes ----------------------------------------------------------------------------

    def _set_and_audit(
        self,
        ingestion_id: uuid.UUID,
        conditions: list[Any],
        values: Mapping[str, Any],
        *,
        actor: str,
        details: Mapping[str, Any] | Callable[[Row], Mapping[str, Any]],
    ) -> Row | None:
        """One conditional UPDATE and, when it matched, its audit event; None otherwise."""
        row = self._conn.execute(
            update(ingestions)
            .where(ingestions.c.id == ingestion_id, *conditions)
            .values(updated_at=func.now(), **values)
            .returning(*ingestions.c)
        ).first()
        if row is None:
            return None
        out = _row(row)
        self._audit.record(
            actor=actor,
            action="ingestion.transition",
            entity_type="ingestion",
            entity_id=str(ingestion_id),
            dataset=out["dataset"],
            details=details(out) if callable(details) else details,
        )
        return out

    def transition(
        self,
        ingestion_id: uuid.UUID,
        *,
        expected: Iterable[Status],
        target: Status,
        actor: str,
        details: Mapping[str, Any] | None = None,
        holder: str | None = None,
        finished: bool = False,
        **fields: Any,
    ) -> Row | None:
        expected_values = [s.value for s in expected if is_allowed(s, target)]
        if not expected_values:
            raise ValueError(f"no state in {list(expected)} may move to {target}")
        conditions: list[Any] = [ingestions.c.status.in_(expected_values)]
        if holder is not None:
            conditions.append(ingestions.c.claimed_by == holder)
        if finished:  # the same transaction time as updated_at, so finished_at never lies after it
            fields["finished_at"] = func.now()
        return self._set_and_audit(
            ingestion_id,
            conditions,
            {"status": target.value, **fields},
            actor=actor,
            details={"to": target.value, "from": expected_values, **dict(details or {})},
        )

    def finish(
        self,
        ingestion_id: uuid.UUID,
        *,
        worker: str,
        status: Status,
        details: Mapping[str, Any],
        artifacts: Mapping[str, Mapping[str, Any]],
        finished: bool,
        **fields: Any,
    ) -> Row | None:
        moved = self.transition(
            ingestion_id,
            expected=[Status.PROCESSING],
            target=status,
            actor=worker,
            holder=worker,
            details=details,
            finished=finished,
            **fields,
        )
        if moved is not None:
            self.save_artifacts(ingestion_id, artifacts)
        return moved

    def claim(self, ingestion_id: uuid.UUID, *, worker: str) -> Row | None:
        return self._set_and_audit(
            ingestion_id,
            [
                ingestions.c.status.in_([s.value for s in CLAIMABLE]),
                ingestions.c.attempts < ingestions.c.max_attempts,
            ],
            {
                "status": Status.PROCESSING.value,
                "attempts": ingestions.c.attempts + 1,
                "claimed_by": worker,
                "heartbeat_at": func.now(),
                "error": None,
            },
            actor=worker,
            details=lambda row: {"to": Status.PROCESSING.value, "attempt": row["attempts"]},
        )

    def heartbeat(self, ingestion_id: uuid.UUID, *, worker: str, rows_processed: int = 0) -> bool:
        result = self._conn.execute(
            update(ingestions)
            .where(
                ingestions.c.id == ingestion_id,
                ingestions.c.status == Status.PROCESSING.value,
                ingestions.c.claimed_by == worker,
            )
            .values(heartbeat_at=func.now(), rows_processed=rows_processed)
        )
        return bool(result.rowcount)

    # --- reclaim ----------------------------------------------------------------------------------

    def find_stale(self, *, older_than_seconds: float) -> list[uuid.UUID]:
        rows = self._conn.execute(
            select(ingestions.c.id).where(
                ingestions.c.status == Status.PROCESSING.value,
                ingestions.c.heartbeat_at < _seconds_ago(older_than_seconds),
            )
        ).all()
        return [r.id for r in rows]

    def release_stale(self, ingestion_id: uuid.UUID, *, older_than_seconds: float, actor: str) -> Row | None:
        return self._set_and_audit(
            ingestion_id,
            [
                ingestions.c.status == Status.PROCESSING.value,
                ingestions.c.heartbeat_at < _seconds_ago(older_than_seconds),
            ],
            {
                "status": Status.FAILED_EXCEPTION.value,
                "claimed_by": None,
                "error": {
                    "code": "worker_lost",
                    "message": f"no heartbeat for over {older_than_seconds:g} s; the worker is presumed dead",
                    "hint": "it is queued again automatically",
                },
            },
            actor=actor,
            details={
                "to": Status.FAILED_EXCEPTION.value,
                "from": [Status.PROCESSING.value],
                "reason": "stale",
            },
        )

    def find_unqueued(self, *, older_than_seconds: float) -> list[uuid.UUID]:
        """RECEIVED ingestions never handed to a queue, or handed over so long ago that the queue
        evidently lost them (an in-process queue dies with its process). ``updated_at`` (not
        ``created_at``) is the age: an approved schema puts an old ingestion back to RECEIVED, and its
        approver enqueues it right after."""
        rows = self._conn.execute(
            select(ingestions.c.id)
            .where(
                ingestions.c.status == Status.RECEIVED.value,
                or_(
                    ingestions.c.enqueued_at.is_(None),
                    ingestions.c.enqueued_at < _seconds_ago(older_than_seconds),
                ),
                ingestions.c.updated_at < _seconds_ago(older_than_seconds),
            )
            .order_by(ingestions.c.created_at)
        ).all()
        return [r.id for r in rows]

    def find_waiting(self, dataset: str, *, limit: int, exclude: uuid.UUID | None = None) -> list[uuid.UUID]:
        query = select(ingestions.c.id).where(
            ingestions.c.dataset == dataset,
            ingestions.c.status == Status.RECEIVED.value,
            ingestions.c.attempts < ingestions.c.max_attempts,
        )
        if exclude is not None:
            query = query.where(ingestions.c.id != exclude)
        rows = self._conn.execute(query.order_by(ingestions.c.created_at).limit(limit)).all()
        return [r.id for r in rows]

    def count_backlog(self) -> dict[str, dict[str, int]]:
        unfinished = [Status.RECEIVED.value, Status.FAILED_EXCEPTION.value, Status.PROCESSING.value]
        rows = self._conn.execute(
            select(ingestions.c.source, ingestions.c.status, func.count())
            .where(
                ingestions.c.status.in_(unfinished),
                or_(
                    ingestions.c.status == Status.PROCESSING.value,
                    ingestions.c.attempts < ingestions.c.max_attempts,
                ),
            )
            .group_by(ingestions.c.source, ingestions.c.status)
        ).all()
        counts: dict[str, dict[str, int]] = {}
        for source, status, count in rows:
            counts.setdefault(source, {})[status] = int(count)
        return counts

    def find_retryable(self, *, older_than_seconds: float) -> list[uuid.UUID]:
        rows = self._conn.execute(
            select(ingestions.c.id)
            .where(
                ingestions.c.status == Status.FAILED_EXCEPTION.value,
                ingestions.c.attempts < ingestions.c.max_attempts,
                ingestions.c.updated_at < _seconds_ago(older_than_seconds),
            )
            .order_by(ingestions.c.updated_at)
        ).all()
        return [r.id for r in rows]

    def mark_enqueued(self, ingestion_id: uuid.UUID) -> datetime | None:
        return self._conn.execute(
            update(ingestions)
            .where(ingestions.c.id == ingestion_id)
            .values(enqueued_at=func.now())
            .returning(ingestions.c.enqueued_at)
        ).scalar_one_or_none()

    # --- artifacts --------------------------------------------------------------------------------

    def save_artifacts(self, ingestion_id: uuid.UUID, artifacts: Mapping[str, Mapping[str, Any]]) -> None:
        if artifacts:  # one statement for every kind: a finish stores four
            stmt = pg_insert(ingestion_artifacts).values(
                [
                    {"ingestion_id": ingestion_id, "kind": kind, "body": dict(body)}
                    for kind, body in artifacts.items()
                ]
            )
            self._conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["ingestion_id", "kind"],
                    set_={"body": stmt.excluded.body, "created_at": func.now()},
                )
            )
        write_trend_facts(self._conn, ingestion_id, set(artifacts))  # the trends' compact facts

    def artifacts(self, ingestion_id: uuid.UUID) -> dict[str, Any]:
        rows = self._conn.execute(
            select(ingestion_artifacts.c.kind, ingestion_artifacts.c.body).where(
                ingestion_artifacts.c.ingestion_id == ingestion_id
            )
        ).all()
        return {r.kind: r.body for r in rows}

    # --- replay and retention ---------------------------------------------------------------------

    def find_replay_originals(
        self, *, dataset: str, since: datetime | None, until: datetime | None
    ) -> list[Row]:
        return maintenance.find_replay_originals(self._conn, dataset=dataset, since=since, until=until)

    def find_prunable(self, *, cutoff: datetime) -> list[Row]:
        return maintenance.find_prunable_ingestions(self._conn, cutoff=cutoff)

    def count_artifacts(self, ingestion_ids: Sequence[uuid.UUID]) -> int:
        return maintenance.count_artifacts(self._conn, ingestion_ids)

    def delete(self, ingestion_ids: Sequence[uuid.UUID], *, cutoff: datetime) -> int:
        return maintenance.delete_ingestions(self._conn, ingestion_ids, cutoff=cutoff)

    def find_referenced_keys(
        self, raw_keys: Iterable[str], *, excluding: AbstractSet[uuid.UUID] = frozenset()
    ) -> set[str]:
        return maintenance.find_referenced_keys(self._conn, raw_keys, excluding=excluding)

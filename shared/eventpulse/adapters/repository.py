"""Metadata store: ingestions, their artifacts, schema history, datasets and the audit log.

Every function takes an open SQLAlchemy connection and runs inside the caller's transaction, so a
state change and the audit event recording it commit together. State changes are compare-and-set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, literal, or_, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from eventpulse.adapters.tables import (
    audit_events,
    contract_versions,
    dataset_schemas,
    datasets,
    ingestion_artifacts,
    ingestions,
    source_objects,
)
from eventpulse.pipeline.states import CLAIMABLE, Status, is_allowed
from eventpulse.schema.model import TableSchema

Row = dict[str, Any]


@dataclass(frozen=True)
class NewIngestion:
    dataset: str
    filename: str
    source: str
    raw_key: str
    sha256: str
    size_bytes: int
    max_attempts: int
    created_by: str
    replay_of: uuid.UUID | None = None
    options: Mapping[str, Any] | None = None


def _row(result_row: Any) -> Row:
    return dict(result_row._mapping)


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    dataset: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(audit_events).values(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            dataset=dataset,
            details=dict(details or {}),
        )
    )


def insert_ingestion(conn: Connection, new: NewIngestion) -> tuple[Row, bool]:
    """Register an ingestion; returns (row, created). Same dataset + bytes returns the existing row."""
    ingestion_id = uuid.uuid4()
    stmt = (
        pg_insert(ingestions)
        .values(
            id=ingestion_id,
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
            created_by=new.created_by,
        )
        .on_conflict_do_nothing(
            index_elements=["dataset", "sha256"], index_where=ingestions.c.replay_of.is_(None)
        )
        .returning(*ingestions.c)
    )
    created = conn.execute(stmt).first()
    if created is not None:
        row = _row(created)
        record_audit(
            conn,
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
                **({"replay_of": str(new.replay_of)} if new.replay_of else {}),
            },
        )
        return row, True
    existing = conn.execute(
        select(ingestions).where(
            ingestions.c.dataset == new.dataset,
            ingestions.c.sha256 == new.sha256,
            ingestions.c.replay_of.is_(None),
        )
    ).one()
    return _row(existing), False


def get_ingestion(conn: Connection, ingestion_id: uuid.UUID) -> Row | None:
    found = conn.execute(select(ingestions).where(ingestions.c.id == ingestion_id)).first()
    return _row(found) if found else None


def lock_ingestion(conn: Connection, ingestion_id: uuid.UUID) -> Row | None:
    """The ingestion row, locked until the caller's transaction ends (an operator decision on it)."""
    found = conn.execute(select(ingestions).where(ingestions.c.id == ingestion_id).with_for_update()).first()
    return _row(found) if found else None


def list_ingestions(
    conn: Connection,
    *,
    dataset: str | None = None,
    statuses: Sequence[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Row], int]:
    """A page of ingestions, newest first, and the total matching the filters."""
    conditions = []
    if dataset:
        conditions.append(ingestions.c.dataset == dataset)
    if statuses:
        conditions.append(ingestions.c.status.in_(list(statuses)))
    where = and_(True, *conditions)
    total = conn.execute(select(func.count()).select_from(ingestions).where(where)).scalar_one()
    rows = conn.execute(
        select(ingestions)
        .where(where)
        .order_by(ingestions.c.created_at.desc(), ingestions.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [_row(r) for r in rows], int(total)


def _set_and_audit(
    conn: Connection,
    ingestion_id: uuid.UUID,
    conditions: list[Any],
    values: Mapping[str, Any],
    *,
    actor: str,
    details: Mapping[str, Any] | Callable[[Row], Mapping[str, Any]],
) -> Row | None:
    """One conditional UPDATE of an ingestion and, when it matched, its audit event; None otherwise."""
    row = conn.execute(
        update(ingestions)
        .where(ingestions.c.id == ingestion_id, *conditions)
        .values(updated_at=func.now(), **values)
        .returning(*ingestions.c)
    ).first()
    if row is None:
        return None
    out = _row(row)
    record_audit(
        conn,
        actor=actor,
        action="ingestion.transition",
        entity_type="ingestion",
        entity_id=str(ingestion_id),
        dataset=out["dataset"],
        details=details(out) if callable(details) else details,
    )
    return out


def transition(
    conn: Connection,
    ingestion_id: uuid.UUID,
    *,
    expected: Iterable[Status],
    target: Status,
    actor: str,
    details: Mapping[str, Any] | None = None,
    holder: str | None = None,
    **fields: Any,
) -> Row | None:
    """Compare-and-set: move to ``target`` only from one of ``expected`` (and, with ``holder``, only
    while that worker holds the claim); None when it lost the race."""
    expected_values = [s.value for s in expected if is_allowed(s, target)]
    if not expected_values:
        raise ValueError(f"no state in {list(expected)} may move to {target}")
    conditions: list[Any] = [ingestions.c.status.in_(expected_values)]
    if holder is not None:
        conditions.append(ingestions.c.claimed_by == holder)
    return _set_and_audit(
        conn,
        ingestion_id,
        conditions,
        {"status": target.value, **fields},
        actor=actor,
        details={"to": target.value, "from": expected_values, **dict(details or {})},
    )


def claim(conn: Connection, ingestion_id: uuid.UUID, *, worker: str) -> Row | None:
    """Claim a RECEIVED or FAILED_EXCEPTION ingestion for processing; counts the attempt."""
    return _set_and_audit(
        conn,
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


def heartbeat(conn: Connection, ingestion_id: uuid.UUID, *, worker: str, rows_processed: int = 0) -> bool:
    """Refresh the heartbeat (and progress) of a claim this worker still holds."""
    result = conn.execute(
        update(ingestions)
        .where(
            ingestions.c.id == ingestion_id,
            ingestions.c.status == Status.PROCESSING.value,
            ingestions.c.claimed_by == worker,
        )
        .values(heartbeat_at=func.now(), rows_processed=rows_processed)
    )
    return bool(result.rowcount)


def find_stale_processing(conn: Connection, *, older_than_seconds: float) -> list[uuid.UUID]:
    rows = conn.execute(
        select(ingestions.c.id).where(
            ingestions.c.status == Status.PROCESSING.value,
            ingestions.c.heartbeat_at < _seconds_ago(older_than_seconds),
        )
    ).all()
    return [r.id for r in rows]


def find_unqueued(conn: Connection, *, older_than_seconds: float) -> list[uuid.UUID]:
    """RECEIVED ingestions whose delivery looks lost, untouched for longer than the threshold.

    Never handed to a queue, or handed over so long ago that the queue evidently lost it (an
    in-process queue dies with its process). ``updated_at`` (not ``created_at``) is the age: an
    approved schema puts an old ingestion back to RECEIVED, and its approver enqueues it right after.
    """
    rows = conn.execute(
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


def find_retryable(conn: Connection, *, older_than_seconds: float) -> list[uuid.UUID]:
    """FAILED_EXCEPTION ingestions with attempts left whose last failure is older than the threshold."""
    rows = conn.execute(
        select(ingestions.c.id)
        .where(
            ingestions.c.status == Status.FAILED_EXCEPTION.value,
            ingestions.c.attempts < ingestions.c.max_attempts,
            ingestions.c.updated_at < _seconds_ago(older_than_seconds),
        )
        .order_by(ingestions.c.updated_at)
    ).all()
    return [r.id for r in rows]


def release_stale_claim(
    conn: Connection, ingestion_id: uuid.UUID, *, older_than_seconds: float, actor: str
) -> Row | None:
    """PROCESSING with a heartbeat older than the threshold -> FAILED_EXCEPTION (compare-and-set)."""
    return _set_and_audit(
        conn,
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
        details={"to": Status.FAILED_EXCEPTION.value, "from": [Status.PROCESSING.value], "reason": "stale"},
    )


def _seconds_ago(seconds: float) -> Any:
    return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def mark_enqueued(conn: Connection, ingestion_id: uuid.UUID) -> None:
    conn.execute(update(ingestions).where(ingestions.c.id == ingestion_id).values(enqueued_at=func.now()))


def save_artifact(conn: Connection, ingestion_id: uuid.UUID, kind: str, body: Mapping[str, Any]) -> None:
    stmt = pg_insert(ingestion_artifacts).values(ingestion_id=ingestion_id, kind=kind, body=dict(body))
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["ingestion_id", "kind"],
            set_={"body": stmt.excluded.body, "created_at": func.now()},
        )
    )


def load_artifacts(conn: Connection, ingestion_id: uuid.UUID) -> dict[str, Any]:
    rows = conn.execute(
        select(ingestion_artifacts.c.kind, ingestion_artifacts.c.body).where(
            ingestion_artifacts.c.ingestion_id == ingestion_id
        )
    ).all()
    return {r.kind: r.body for r in rows}


def load_latest_schema(conn: Connection, dataset: str) -> tuple[int, TableSchema] | None:
    row = conn.execute(
        select(dataset_schemas.c.version, dataset_schemas.c.schema)
        .where(dataset_schemas.c.dataset == dataset)
        .order_by(dataset_schemas.c.version.desc())
        .limit(1)
    ).first()
    return (row.version, TableSchema.from_dict(row.schema)) if row else None


def append_schema(
    conn: Connection,
    *,
    dataset: str,
    schema: TableSchema,
    contract_version: str | None,
    ingestion_id: uuid.UUID | None,
    reason: str,
    actor: str,
) -> int:
    """Append an accepted schema version; the row lock on ``datasets`` serialises concurrent writers."""
    latest = conn.execute(
        select(func.coalesce(func.max(dataset_schemas.c.version), 0)).where(
            dataset_schemas.c.dataset == dataset
        )
    ).scalar_one()
    version = int(latest) + 1
    conn.execute(
        insert(dataset_schemas).values(
            dataset=dataset,
            version=version,
            fingerprint=schema.fingerprint(),
            schema=schema.to_dict(),
            contract_version=contract_version,
            ingestion_id=ingestion_id,
            reason=reason,
            accepted_by=actor,
        )
    )
    record_audit(
        conn,
        actor=actor,
        action="schema.accepted",
        entity_type="dataset",
        entity_id=dataset,
        dataset=dataset,
        details={"version": version, "fingerprint": schema.fingerprint(), "reason": reason},
    )
    return version


def list_schemas(conn: Connection, dataset: str) -> list[Row]:
    rows = conn.execute(
        select(dataset_schemas)
        .where(dataset_schemas.c.dataset == dataset)
        .order_by(dataset_schemas.c.version)
    ).all()
    return [_row(r) for r in rows]


def lock_dataset(conn: Connection, dataset: str, curated_table: str) -> Row:
    """Ensure the dataset row exists and lock it for this transaction (serialises loads per dataset)."""
    conn.execute(
        pg_insert(datasets)
        .values(name=dataset, curated_table=curated_table)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    row = conn.execute(select(datasets).where(datasets.c.name == dataset).with_for_update()).one()
    return _row(row)


def update_dataset(conn: Connection, dataset: str, **fields: Any) -> None:
    conn.execute(update(datasets).where(datasets.c.name == dataset).values(updated_at=func.now(), **fields))


def list_datasets(conn: Connection) -> list[Row]:
    counts = (
        select(
            ingestions.c.dataset,
            func.count().label("ingestions"),
            func.max(ingestions.c.created_at).label("last_ingestion_at"),
        )
        .group_by(ingestions.c.dataset)
        .subquery()
    )
    rows = conn.execute(
        select(datasets, counts.c.ingestions, counts.c.last_ingestion_at)
        .select_from(datasets.outerjoin(counts, counts.c.dataset == datasets.c.name))
        .order_by(datasets.c.name)
    ).all()
    return [_row(r) for r in rows]


def remember_contract_version(
    conn: Connection, *, dataset: str, version: str, body: Mapping[str, Any], actor: str
) -> bool:
    """Store a contract version the first time it is seen; audit it as a configuration change."""
    inserted = conn.execute(
        pg_insert(contract_versions)
        .values(dataset=dataset, version=version, body=dict(body))
        .on_conflict_do_nothing(index_elements=["dataset", "version"])
        .returning(contract_versions.c.version)
    ).first()
    if inserted is not None:
        record_audit(
            conn,
            actor=actor,
            action="contract.version_seen",
            entity_type="dataset",
            entity_id=dataset,
            dataset=dataset,
            details={"contract_version": version},
        )
    return inserted is not None


def list_audit_events(
    conn: Connection,
    *,
    dataset: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Row], int]:
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
    total = conn.execute(select(func.count()).select_from(audit_events).where(where)).scalar_one()
    rows = conn.execute(
        select(audit_events).where(where).order_by(audit_events.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return [_row(r) for r in rows], int(total)


@dataclass(frozen=True)
class SourceObjectSeen:
    outcome: str
    """``registered``, ``duplicate`` or ``rejected`` (as first recorded), or ``duplicate`` for a raw key."""
    ingestion_id: uuid.UUID | None
    reason: str | None


def find_source_object(
    conn: Connection, *, bucket: str, name: str, generation: int
) -> SourceObjectSeen | None:
    """What became of this object generation before, in one indexed round trip.

    Either a recorded event or backfill of (bucket, name, generation), or an original ingestion whose
    raw key is ``name`` (an object the API landed itself, whose finalize event follows).
    """
    recorded = select(source_objects.c.outcome, source_objects.c.ingestion_id, source_objects.c.reason).where(
        source_objects.c.bucket == bucket,
        source_objects.c.name == name,
        source_objects.c.generation == generation,
    )
    by_key = select(
        literal("duplicate").label("outcome"),
        ingestions.c.id.label("ingestion_id"),
        literal(None).label("reason"),
    ).where(ingestions.c.raw_key == name, ingestions.c.replay_of.is_(None))
    row = conn.execute(union_all(recorded, by_key).limit(1)).first()
    if row is None:
        return None
    return SourceObjectSeen(outcome=row.outcome, ingestion_id=row.ingestion_id, reason=row.reason)


def record_source_object(
    conn: Connection,
    *,
    bucket: str,
    name: str,
    generation: int,
    outcome: str,
    ingestion_id: uuid.UUID | None = None,
    reason: str | None = None,
    sha256: str | None = None,
) -> None:
    """Remember what this object generation became (the first record wins)."""
    conn.execute(
        pg_insert(source_objects)
        .values(
            bucket=bucket,
            name=name,
            generation=generation,
            outcome=outcome,
            ingestion_id=ingestion_id,
            reason=reason,
            sha256=sha256,
        )
        .on_conflict_do_nothing(index_elements=["bucket", "name", "generation"])
    )

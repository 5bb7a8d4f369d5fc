"""Queries of the maintenance jobs (retention and replay), on the caller's connection and transaction.

Only final ingestions are ever deleted, never one that a kept replay still points at, and never one
with rows still held in the quarantine (they would go with it, untraced: resolve them first). Curated
tables are not touched here: their rows keep their ``_ingestion_id`` lineage column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, func, select
from sqlalchemy.orm import aliased

from eventpulse.adapters.postgres.tables import ingestion_artifacts, ingestions, quarantined_rows
from eventpulse.states import TERMINAL

Row = dict[str, Any]
BATCH = 1000
T = TypeVar("T")

_FINAL = sorted(s.value for s in TERMINAL)


def batched(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_prunable(table: Any, cutoff: datetime) -> ColumnElement[bool]:
    held = exists().where(quarantined_rows.c.ingestion_id == table.c.id, quarantined_rows.c.status == "held")
    return and_(table.c.status.in_(_FINAL), table.c.created_at < cutoff, table.c.updated_at < cutoff, ~held)


def _prunable_clause(cutoff: datetime) -> ColumnElement[bool]:
    """Final, older than the cutoff, and no replay of it stays behind (its replay_of would dangle)."""
    replay = aliased(ingestions)
    kept_replay = exists().where(replay.c.replay_of == ingestions.c.id, ~_is_prunable(replay, cutoff))
    return and_(_is_prunable(ingestions, cutoff), ~kept_replay)


def find_prunable_ingestions(conn: Connection, *, cutoff: datetime) -> list[Row]:
    """Ingestions retention may delete, replays before their originals (the order deletes must take)."""
    rows = conn.execute(
        select(
            ingestions.c.id,
            ingestions.c.dataset,
            ingestions.c.status,
            ingestions.c.filename,
            ingestions.c.raw_key,
            ingestions.c.replay_of,
            ingestions.c.created_at,
        )
        .where(_prunable_clause(cutoff))
        .order_by(ingestions.c.replay_of.is_(None), ingestions.c.created_at, ingestions.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def count_artifacts(conn: Connection, ingestion_ids: Sequence[Any]) -> int:
    total = 0
    for chunk in batched(ingestion_ids):
        total += conn.execute(
            select(func.count())
            .select_from(ingestion_artifacts)
            .where(ingestion_artifacts.c.ingestion_id.in_(list(chunk)))
        ).scalar_one()
    return int(total)


def delete_ingestions(conn: Connection, ingestion_ids: Sequence[Any], *, cutoff: datetime) -> int:
    """Delete these ingestions (artifacts cascade) if they are still prunable; returns how many went."""
    result = conn.execute(
        delete(ingestions).where(ingestions.c.id.in_(list(ingestion_ids)), _prunable_clause(cutoff))
    )
    return int(result.rowcount)


def find_referenced_keys(
    conn: Connection, raw_keys: Iterable[str], *, excluding: AbstractSet[Any] = frozenset()
) -> set[str]:
    """The raw keys that some ingestion row, other than those ``excluding``, still references."""
    keys = sorted(set(raw_keys))
    found: set[str] = set()
    for chunk in batched(keys):
        pairs = conn.execute(
            select(ingestions.c.raw_key, ingestions.c.id).where(ingestions.c.raw_key.in_(list(chunk)))
        ).all()
        found.update(key for key, ingestion_id in pairs if ingestion_id not in excluding)
    return found


def find_replay_originals(
    conn: Connection, *, dataset: str, since: datetime | None, until: datetime | None
) -> list[Row]:
    """First ingestions (not replays) of a dataset created in [since, until), oldest first."""
    conditions = [ingestions.c.dataset == dataset, ingestions.c.replay_of.is_(None)]
    if since is not None:
        conditions.append(ingestions.c.created_at >= since)
    if until is not None:
        conditions.append(ingestions.c.created_at < until)
    rows = conn.execute(
        select(ingestions).where(*conditions).order_by(ingestions.c.created_at, ingestions.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]

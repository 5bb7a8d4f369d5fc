"""Reclaim work that would otherwise never finish, and queue it again.

Two kinds: a PROCESSING claim whose worker died (its heartbeat went stale) becomes FAILED_EXCEPTION;
a RECEIVED ingestion that was never handed to the queue (the registering process died between the
commit and the enqueue) is enqueued. Delivering twice is harmless: claiming is a compare-and-set.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventpulse.adapters import repository as repo

if TYPE_CHECKING:
    from eventpulse.bootstrap import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReclaimReport:
    stale: tuple[uuid.UUID, ...] = ()
    """PROCESSING claims with a stale heartbeat: released to FAILED_EXCEPTION and enqueued again."""
    unqueued: tuple[uuid.UUID, ...] = ()
    """RECEIVED ingestions that had never been enqueued: enqueued now."""

    @property
    def ids(self) -> tuple[uuid.UUID, ...]:
        return self.stale + self.unqueued

    def __bool__(self) -> bool:
        return bool(self.ids)


def reclaim_stale(
    services: Services, *, older_than_seconds: float | None = None, actor: str = "reclaim"
) -> ReclaimReport:
    """Release stale claims and find never-enqueued ingestions older than the threshold; enqueue both.

    A live worker refreshes its heartbeat every ``heartbeat_seconds``, far below the threshold, so
    it is never reclaimed; the compare-and-set on the heartbeat makes a racing beat win.
    """
    threshold = services.settings.stale_after_seconds if older_than_seconds is None else older_than_seconds
    stale = _release_stale(services, threshold, actor)
    with services.engine.connect() as conn:
        unqueued = repo.find_unqueued(conn, older_than_seconds=threshold)
    for ingestion_id in stale:
        services.queue.enqueue(ingestion_id)
    for ingestion_id in unqueued:
        _enqueue_unqueued(services, ingestion_id, actor)
    return ReclaimReport(stale=tuple(stale), unqueued=tuple(unqueued))


def _release_stale(services: Services, threshold: float, actor: str) -> list[uuid.UUID]:
    released: list[uuid.UUID] = []
    with services.engine.begin() as conn:
        for ingestion_id in repo.find_stale_processing(conn, older_than_seconds=threshold):
            moved = repo.release_stale_claim(conn, ingestion_id, older_than_seconds=threshold, actor=actor)
            if moved is not None:
                released.append(ingestion_id)
    return released


def _enqueue_unqueued(services: Services, ingestion_id: uuid.UUID, actor: str) -> None:
    with services.engine.begin() as conn:
        row = repo.get_ingestion(conn, ingestion_id)
        repo.record_audit(
            conn,
            actor=actor,
            action="ingestion.requeued",
            entity_type="ingestion",
            entity_id=str(ingestion_id),
            dataset=row["dataset"] if row else None,
            details={"reason": "never enqueued"},
        )
    # Hand over first, then remember: a crash in between only means one more (harmless) delivery.
    services.queue.enqueue(ingestion_id)
    with services.engine.begin() as conn:
        repo.mark_enqueued(conn, ingestion_id)
    log.info("enqueued ingestion %s, which had never been enqueued", ingestion_id)

"""Reclaim work that would otherwise never finish, and queue it again.

Three kinds: a PROCESSING claim whose worker died (its heartbeat went stale) becomes FAILED_EXCEPTION
and is enqueued; a RECEIVED ingestion whose delivery was lost (never handed to a queue, or handed to
one that died with its process) is enqueued; a FAILED_EXCEPTION ingestion with attempts left is
enqueued again once its failure is older than the threshold (the retry). Delivering twice is
harmless: claiming is a compare-and-set. Each run also retries the lineage pushes that failed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventpulse.pipeline.lineage_push import PushReport, push_lineage, queue_lineage
from eventpulse.pipeline.records import build_lineage

if TYPE_CHECKING:
    from eventpulse.ports import Services

log = logging.getLogger(__name__)

ABANDONED = {
    "code": "attempt_abandoned",
    "message": "the worker of this attempt stopped (its heartbeat went stale); the attempt is retried",
}


@dataclass(frozen=True)
class ReclaimReport:
    stale: tuple[uuid.UUID, ...] = ()
    """PROCESSING claims with a stale heartbeat: released to FAILED_EXCEPTION and enqueued again."""
    unqueued: tuple[uuid.UUID, ...] = ()
    """RECEIVED ingestions whose delivery was lost: enqueued now."""
    retried: tuple[uuid.UUID, ...] = ()
    """FAILED_EXCEPTION ingestions with attempts left: enqueued for another attempt."""
    lineage: PushReport = PushReport()
    """Lineage events pushed (or failed again) from the outbox on this run."""

    @property
    def ids(self) -> tuple[uuid.UUID, ...]:
        return self.stale + self.unqueued + self.retried

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
    with services.store.read() as tx:
        unqueued = tx.ingestions.find_unqueued(older_than_seconds=threshold)
        retried = [i for i in tx.ingestions.find_retryable(older_than_seconds=threshold) if i not in stale]
    for ingestion_id in stale:
        services.queue.enqueue(ingestion_id)
    for ingestion_id in unqueued:
        _requeue(services, ingestion_id, actor, "delivery lost")
    for ingestion_id in retried:
        _requeue(services, ingestion_id, actor, "retry after a failed attempt")
    lineage = push_lineage(services)  # the retry of lineage pushes that failed (never raises)
    return ReclaimReport(
        stale=tuple(stale), unqueued=tuple(unqueued), retried=tuple(retried), lineage=lineage
    )


def _release_stale(services: Services, threshold: float, actor: str) -> list[uuid.UUID]:
    released: list[uuid.UUID] = []
    with services.store.transaction() as tx:
        for ingestion_id in tx.ingestions.find_stale(older_than_seconds=threshold):
            moved = tx.ingestions.release_stale(ingestion_id, older_than_seconds=threshold, actor=actor)
            if moved is not None:
                released.append(ingestion_id)
                # The abandoned attempt's run gets its FAIL; the retry starts again with a START.
                queue_lineage(
                    services, tx, ingestion_id, build_lineage(services, moved, "FAIL", error=ABANDONED)
                )
    return released


def _requeue(services: Services, ingestion_id: uuid.UUID, actor: str, reason: str) -> None:
    with services.store.transaction() as tx:
        row = tx.ingestions.get(ingestion_id)
        tx.audit.record(
            actor=actor,
            action="ingestion.requeued",
            entity_type="ingestion",
            entity_id=str(ingestion_id),
            dataset=row["dataset"] if row else None,
            details={"reason": reason},
        )
        tx.ingestions.mark_enqueued(ingestion_id)
    services.queue.enqueue(ingestion_id)  # lost again? the next reclaim finds it by its age
    log.info("enqueued ingestion %s again: %s", ingestion_id, reason)

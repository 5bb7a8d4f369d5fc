"""Reclaim work whose worker died: a stale PROCESSING claim becomes FAILED_EXCEPTION and is re-queued."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from eventpulse.adapters import repository as repo

if TYPE_CHECKING:
    from eventpulse.bootstrap import Services


def reclaim_stale(
    services: Services, *, older_than_seconds: float | None = None, actor: str = "reclaim"
) -> list[uuid.UUID]:
    """Release claims whose heartbeat is older than the threshold, then enqueue them again.

    A live worker refreshes its heartbeat every ``heartbeat_seconds``, far below the threshold, so
    it is never reclaimed; the compare-and-set on the heartbeat makes a racing beat win.
    """
    threshold = services.settings.stale_after_seconds if older_than_seconds is None else older_than_seconds
    reclaimed: list[uuid.UUID] = []
    with services.engine.begin() as conn:
        for ingestion_id in repo.find_stale_processing(conn, older_than_seconds=threshold):
            moved = repo.release_stale_claim(conn, ingestion_id, older_than_seconds=threshold, actor=actor)
            if moved is not None:
                reclaimed.append(ingestion_id)
    for ingestion_id in reclaimed:
        services.queue.enqueue(ingestion_id)
    return reclaimed

"""Push the lineage outbox to the configured OpenLineage receiver: best effort now, retried later.

Events enter the outbox in the transaction of the state change they report (``queue_lineage``), so
a crash can never lose one or push one for a state that rolled back; only while a receiver is
configured (the ingestion's artifacts keep its events either way). ``push_lineage`` runs after that
commit: it sends what is due, oldest first, one event per ingestion at a time (a run's START always
reaches the receiver before its COMPLETE or FAIL), and a failed push only backs the event off. It
never raises: lineage delivery must not fail an ingestion. ``eventpulse lineage flush`` and the
``reclaim_stuck`` job call it for everything still pending.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventpulse.logs.redact import redact

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from eventpulse.ports import OutboxEvent, Services, Transaction

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
LEASE_SECONDS = 120.0
"""How long a fetched event is reserved for its sender (far above the push timeout)."""


@dataclass(frozen=True)
class PushReport:
    sent: int = 0
    failed: int = 0
    pending: int | None = None
    """Events still waiting after the push (counted only by ``flush``)."""


def retry_delay_seconds(failed_attempts: int) -> float:
    """Back-off after the n-th failed push of one event: 30 s doubling, at most an hour."""
    return float(min(FIRST_RETRY_SECONDS * 2 ** max(failed_attempts - 1, 0), MAX_RETRY_SECONDS))


def queue_lineage(
    services: Services, tx: Transaction, ingestion_id: uuid.UUID, event: Mapping[str, Any]
) -> None:
    """Put the event in the outbox, in ``tx``, when there is a receiver to push it to."""
    if services.lineage_sink is not None:
        tx.lineage.add(ingestion_id, event)


def push_lineage(
    services: Services, *, ingestion_id: uuid.UUID | None = None, limit: int = 1000
) -> PushReport:
    """Send due outbox events (of one ingestion, or all) to the sink; never raises."""
    sink = services.lineage_sink
    if sink is None:
        return PushReport()
    sent = failed = 0
    try:
        while sent + failed < limit:
            with services.store.transaction() as tx:
                batch = tx.lineage.lease_due(
                    limit=min(100, limit - sent - failed),
                    lease_seconds=LEASE_SECONDS,
                    ingestion_id=ingestion_id,
                )
            if not batch:
                break
            for item in batch:
                if _push_one(services, item):
                    sent += 1
                else:
                    failed += 1
    except Exception as exc:  # the store itself failed: the events stay queued for the next flush
        log.warning("lineage push stopped: %s", redact(str(exc)))
    return PushReport(sent=sent, failed=failed)


def flush_lineage(services: Services, *, limit: int = 10_000) -> PushReport:
    """Push everything due and report how many events are still pending (the CLI and the job)."""
    report = push_lineage(services, limit=limit)
    with services.store.read() as tx:
        pending = tx.lineage.count_pending()
    return PushReport(sent=report.sent, failed=report.failed, pending=pending)


def _push_one(services: Services, item: OutboxEvent) -> bool:
    sink = services.lineage_sink
    assert sink is not None
    try:
        sink.send(item.event)
    except Exception as exc:
        error = redact(f"{type(exc).__name__}: {exc}")
        delay = retry_delay_seconds(item.attempts + 1)
        log.warning(
            "lineage %s event of ingestion %s not pushed (attempt %d), retrying in %.0f s: %s",
            item.event.get("eventType"),
            item.ingestion_id,
            item.attempts + 1,
            delay,
            error,
        )
        with services.store.transaction() as tx:
            tx.lineage.mark_failed(item.id, error=error, retry_in_seconds=delay)
        return False
    with services.store.transaction() as tx:
        tx.lineage.mark_sent(item.id)
    return True

"""A worker that loses its database connection mid-ingestion waits for the database, then goes on.

Without this, a restart or failover of Postgres left each ingestion in flight PROCESSING until the
reclaim sweep found its heartbeat stale (two minutes and more). The load transaction that lost its
connection rolled back with it, so processing the ingestion again under the same claim, as soon as the
database answers, loads it once. The one exception, a connection lost in the COMMIT after the commit
record was flushed, leaves the ingestion LOADED: the processor looks at the claim first and stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from eventpulse.ports import MetadataStore

log = logging.getLogger(__name__)


def wait_for_store(
    store: MetadataStore,
    seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> bool:
    """Poll the store with back-off (0.2 s doubling to 2 s) for up to ``seconds``; True once it answers."""
    deadline = monotonic() + seconds
    delay = 0.2
    while not store.is_reachable():
        if monotonic() + delay > deadline:
            log.warning("the database did not answer within %.0f s", seconds)
            return False
        sleep(delay)
        delay = min(delay * 2, 2.0)
    return True

"""A background heartbeat that proves a worker is alive while it processes one ingestion."""

from __future__ import annotations

import logging
import threading
import uuid
from types import TracebackType

from eventpulse.logs import carry_log_context
from eventpulse.ports import MetadataStore

log = logging.getLogger(__name__)


class Heartbeat:
    """Refreshes ``heartbeat_at`` (and the progress counter) on its own pooled connection."""

    def __init__(self, store: MetadataStore, ingestion_id: uuid.UUID, worker: str, interval: float):
        self._store = store
        self._id = ingestion_id
        self._worker = worker
        self._interval = interval
        self._stop = threading.Event()
        self._rows = 0
        self._thread = threading.Thread(
            target=carry_log_context(self._run), name=f"heartbeat-{ingestion_id}", daemon=True
        )

    def progress(self, rows_processed: int) -> None:
        self._rows = rows_processed

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 5)

    def _run(self) -> None:
        log.debug("heartbeat every %ss for ingestion %s", self._interval, self._id)
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a missed beat is not fatal; a long outage gets the claim reclaimed
                log.warning("heartbeat for ingestion %s failed", self._id, exc_info=True)

    def beat(self) -> None:
        with self._store.transaction() as tx:
            tx.ingestions.heartbeat(self._id, worker=self._worker, rows_processed=self._rows)

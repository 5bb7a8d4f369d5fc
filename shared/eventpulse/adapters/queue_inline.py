"""The inline task queue: processes in this process, synchronously or on a small thread pool."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from eventpulse.logs import carry_log_context

log = logging.getLogger(__name__)

Handler = Callable[[uuid.UUID], object]


class InlineQueue:
    """Processes in this process: synchronously (CLI, tests) or on a small thread pool (server)."""

    def __init__(self, handler: Handler, *, background: bool = False, workers: int = 1):
        self._handler = handler
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") if background else None
        )
        self._pending: set[Future[object]] = set()
        self._lock = threading.Lock()

    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        if self._pool is None:
            self._run(ingestion_id)
            return
        future = self._pool.submit(carry_log_context(self._run), ingestion_id)  # the caller's log fields
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, ingestion_id: uuid.UUID) -> object:
        try:
            return self._handler(ingestion_id)
        except Exception:
            # The processor has recorded FAILED_EXCEPTION; the reclaim job retries it later.
            log.exception("ingestion %s failed in the inline queue", ingestion_id)
            return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

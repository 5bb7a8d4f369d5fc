"""The inline task queue: processes in this process, synchronously or on a small thread pool.

On the pool, a worker takes every waiting delivery (up to ``batch_size``) at once and hands them to
``batch_handler`` in one call: several small ingestions of one dataset then share one pass of their
row checks (``pipeline/prevalidate.py``), each still processed, recorded and lineaged on its own.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from eventpulse.logs import carry_log_context

log = logging.getLogger(__name__)

Handler = Callable[[uuid.UUID], object]
BatchHandler = Callable[[Sequence[uuid.UUID]], object]


class InlineQueue:
    """Processes in this process: synchronously (CLI, tests) or on a small thread pool (server)."""

    def __init__(
        self,
        handler: Handler,
        *,
        background: bool = False,
        workers: int = 1,
        batch_handler: BatchHandler | None = None,
        batch_size: int = 1,
    ):
        self._handler = handler
        self._batch_handler = batch_handler if batch_size > 1 else None
        self._batch_size = batch_size
        self._waiting: deque[uuid.UUID] = deque()
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") if background else None
        )
        self._pending: set[Future[object]] = set()
        self._lock = threading.Lock()

    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        if self._pool is None:
            self._run(ingestion_id)
            return
        if self._batch_handler is not None:
            with self._lock:
                self._waiting.append(ingestion_id)
            future = self._pool.submit(carry_log_context(self._run_waiting))
        else:
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

    def _run_waiting(self) -> object:
        # One task per delivery: a task that finds the deque empty (an earlier one took its
        # delivery along) returns at once.
        with self._lock:
            taken = [self._waiting.popleft() for _ in range(min(self._batch_size, len(self._waiting)))]
        if not taken:
            return None
        assert self._batch_handler is not None
        try:
            return self._batch_handler(taken)
        except Exception:
            log.exception("ingestions %s failed in the inline queue", [str(i) for i in taken])
            return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

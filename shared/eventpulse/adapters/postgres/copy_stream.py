"""One ``COPY ... FROM STDIN`` on a raw pg8000 connection, fed from another thread (the COPY pump)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from eventpulse.logs import carry_log_context

log = logging.getLogger(__name__)


class CopyStream:
    """One ``COPY ... FROM STDIN`` running in a background thread, fed CSV chunks through a queue.

    The caller's thread serialises batches while Postgres parses earlier ones (2 cores: Python on
    one, the server on the other). At most ``depth`` chunks wait in memory. The connection is used by
    this thread only until ``close()`` or ``abort()`` returns.
    """

    def __init__(self, conn: Any, sql: str, columns: int, depth: int = 8):
        # pg8000 has no CopyFail: to abort, send a row with too many fields, so the server fails the
        # COPY itself and the connection stays usable for the caller's ROLLBACK.
        self._poison = (",".join(["eventpulse-abort"] * (columns + 2)) + "\n").encode()
        self._slots: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._rowcount = -1
        self._thread = threading.Thread(
            target=carry_log_context(self._run), args=(conn, sql), name="eventpulse-copy", daemon=True
        )
        self._thread.start()

    def _run(self, conn: Any, sql: str) -> None:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, stream=self._chunks())
            self._rowcount = int(cursor.rowcount)
            log.debug("COPY stored %s rows", self._rowcount)
        except BaseException as exc:  # re-raised in the caller's thread by send() or close()
            self._error = exc
        finally:
            cursor.close()

    def _chunks(self) -> Iterator[bytes]:
        while (item := self._slots.get()) is not None:
            if isinstance(item, BaseException):
                yield self._poison
                return
            yield item

    def _offer(self, item: bytes | BaseException | None) -> None:
        while self._thread.is_alive():
            try:
                self._slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def send(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._offer(chunk)
        if self._error is not None:
            raise self._error

    def close(self) -> int:
        self._offer(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._rowcount

    def abort(self) -> None:
        """Make the server fail the COPY (the caller rolls back); the error that causes is expected."""
        self._offer(RuntimeError("load aborted"))
        self._thread.join()

"""Read the first line(s) of an upload as they arrive, then hand on the very same bytes.

``fail_fast`` needs the header before the rest of the body exists. ``readline`` returns as soon as a
newline has arrived (a ``read(n)`` of a socket or a chunked body may wait for all ``n`` bytes), and
never reads past it, so a client that sent only its header gets its answer while it waits.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from eventpulse.errors import BadRequest

HEADER_MAX_BYTES = 64 * 1024
"""The most bytes read to find an upload's header line (``fail_fast``)."""


def peek_header(
    stream: BinaryIO, is_complete: Callable[[bytes], bool], *, max_bytes: int = HEADER_MAX_BYTES
) -> tuple[bytes, bool]:
    """The first bytes of ``stream`` up to a complete header, and whether the stream ended there.

    Raises BadRequest when no complete header fits in ``max_bytes``.
    """
    sample = b""
    while len(sample) < max_bytes:
        line = stream.readline(max_bytes - len(sample))
        if not line:
            return sample, True
        sample += line
        if is_complete(sample):
            return sample, False
    raise BadRequest(
        f"fail_fast found no complete header line in the first {max_bytes // 1024} KiB of the upload",
        hint="send the file without fail_fast (the processor then reads its header), or check that "
        "it is a CSV/NDJSON file with one header line",
        details={"parameter": "fail_fast", "limit_bytes": max_bytes},
    )


class PrefixedStream(io.RawIOBase):
    """``prefix`` (bytes already read from ``rest``), then the remainder of ``rest``: the original stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

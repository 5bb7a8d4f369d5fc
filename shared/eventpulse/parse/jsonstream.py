"""Record-at-a-time JSON readers with bounded memory, using only the standard library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from eventpulse.errors import ReadError


def _text_encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding == "utf-8" else encoding


UNBOUNDED = 1 << 62


def nested_too_deeply(label: str, record: int) -> ReadError:
    """The read error for a record json's decoder gave up on (it recurses once per level of nesting)."""
    return ReadError(
        f"file {label!r}: record {record} is nested too deeply to read (hundreds of levels of objects "
        "or arrays inside each other)",
        hint="flatten the record: EventPulse keeps nested values as JSON text, a few levels deep",
        details={"record": record},
    )


class RecordTooLarge(ValueError):
    """One JSON value (an array element, an NDJSON line) is longer than the caller's bound."""

    def __init__(self, chars: int, limit: int) -> None:
        super().__init__(f"a single record is over {limit:,} characters (at least {chars:,})")
        self.chars, self.limit = chars, limit


def iter_ndjson(path: Path, encoding: str, max_chars: int = UNBOUNDED) -> Iterator[Any]:
    """Yield one decoded value per non-blank line; a line over ``max_chars`` is never held whole."""
    with path.open(encoding=_text_encoding(encoding)) as fh:
        while line := fh.readline(max_chars + 2):  # room for the line's own "\r\n"
            if len(line.rstrip("\r\n")) > max_chars:
                raise RecordTooLarge(len(line), max_chars)
            if line.strip():
                yield json.loads(line)


class _Buffer:
    """A sliding window over a text file: memory is one element plus one chunk."""

    def __init__(self, fh: IO[str], chunk_chars: int) -> None:
        self.fh, self.chunk_chars = fh, chunk_chars
        self.text, self.pos, self.eof = "", 0, False

    def refill(self) -> None:
        more = self.fh.read(self.chunk_chars)
        self.eof = more == ""
        self.text, self.pos = self.text[self.pos :] + more, 0

    def skip_ws(self) -> str:
        """The next non-blank character ("" at the end of the file)."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos : self.pos + 1]
            self.refill()


def iter_json_array(
    path: Path, encoding: str, chunk_chars: int = 1 << 20, max_chars: int = UNBOUNDED
) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array, one at a time; none may be over ``max_chars``."""
    decoder = json.JSONDecoder()
    with path.open(encoding=_text_encoding(encoding)) as fh:
        buf = _Buffer(fh, chunk_chars)
        if buf.skip_ws() != "[":
            raise ValueError("the file is not a JSON array: it must start with '['")
        buf.pos += 1
        expect_value, seen = True, False
        while True:
            ch = buf.skip_ws()
            if ch == "":
                raise ValueError("the JSON array is not closed with ']'")
            if ch == "]":
                if expect_value and seen:
                    raise ValueError("a ',' is followed by ']'")
                return
            if not expect_value:
                if ch != ",":
                    raise ValueError("expected ',' between array elements")
                buf.pos, expect_value = buf.pos + 1, True
                continue
            try:
                value, end = decoder.raw_decode(buf.text, buf.pos)
            except json.JSONDecodeError:
                if buf.eof:
                    raise
                _ensure_pending_fits(buf, max_chars)
                buf.refill()
                continue
            if end == len(buf.text) and not buf.eof:
                _ensure_pending_fits(buf, max_chars)
                buf.refill()  # a number may continue in the next chunk: decode it again
                continue
            if end - buf.pos > max_chars:
                raise RecordTooLarge(end - buf.pos, max_chars)
            yield value
            buf.pos, expect_value, seen = end, False, True


def _ensure_pending_fits(buf: _Buffer, max_chars: int) -> None:
    """The element being read spans the whole buffer: refuse it before it grows past ``max_chars``."""
    pending = len(buf.text) - buf.pos
    if pending > max_chars:
        raise RecordTooLarge(pending, max_chars)

"""Spool an incoming stream to a local temp file while hashing it: the content key needs the hash
before the bytes can be stored create-only, whatever the store."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from eventpulse.errors import PayloadTooLarge, StorageFull
from eventpulse.landing.keys import iter_chunks

LIMIT_HINT = "split the file, or raise EVENTPULSE_UPLOAD_MAX_BYTES"


class HashingWriter:
    """A write-only file object that hashes, counts and enforces a size limit on the way through."""

    def __init__(self, out: Any, max_bytes: int | None, what: str):
        self.out = out
        self.max_bytes = max_bytes
        self.what = what
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise PayloadTooLarge(
                f"{self.what} is larger than the {self.max_bytes}-byte limit", hint=LIMIT_HINT
            )
        self.digest.update(chunk)
        self.out.write(chunk)
        return len(chunk)


@dataclass(frozen=True)
class Spooled:
    path: Path
    sha256: str
    size: int


@contextmanager
def spooled(stream: BinaryIO, tmp_dir: Path, *, filename: str, max_bytes: int | None) -> Iterator[Spooled]:
    """The stream's bytes in a synced temp file under ``tmp_dir`` (removed afterwards), with their hash."""
    tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
    try:
        with disk_full_refused(filename):
            tmp_dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as out:
                writer = HashingWriter(out, max_bytes, f"file {filename!r}")
                for chunk in iter_chunks(stream):
                    writer.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        yield Spooled(tmp, writer.digest.hexdigest(), writer.size)
    finally:
        tmp.unlink(missing_ok=True)


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextmanager
def disk_full_refused(filename: str) -> Iterator[None]:
    """Turn "no space left on device" (or an exhausted quota) into StorageFull (HTTP 507)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in FULL_ERRNOS:
            raise
        raise StorageFull(
            f"the server has no space left to store file {filename!r}; nothing of it was kept",
            hint="send it again later; if it persists, an operator frees space in the server's data "
            "folder (eventpulse prune removes what retention allows)",
        ) from None

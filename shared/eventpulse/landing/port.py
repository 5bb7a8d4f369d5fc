"""The raw landing port: an immutable, content-addressed, create-only store of exact file bytes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from eventpulse.errors import BadRequest
from eventpulse.schema.naming import DATASET_NAME_RE

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSION = re.compile(r"^\.[a-z0-9]{1,10}$")


@dataclass(frozen=True)
class RawObject:
    key: str
    sha256: str
    size_bytes: int
    created: bool
    """False when an object with identical bytes already existed (it was not rewritten)."""
    uri: str


def extension_of(filename: str) -> str:
    """The lowercase extension of a client-supplied name ('' when it has none or it is unsafe)."""
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    return ext if _EXTENSION.match(ext) else ""


def build_raw_key(dataset: str, sha256: str, filename: str) -> str:
    """``<dataset>/<sha256><ext>``: the dataset and the content decide the key, never the client's path."""
    if not DATASET_NAME_RE.match(dataset):
        raise BadRequest(f"dataset {dataset!r} is not a valid name")
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"{dataset}/{sha256}{extension_of(filename)}"


def ensure_safe_key(key: str) -> str:
    """Refuse keys that could escape the landing root."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts) or "\\" in key:
        raise BadRequest(f"raw key {key!r} is not a valid landing key")
    return key


class RawLanding(Protocol):
    """Adapters: filesystem (local default), GCS (cloud)."""

    def put_stream(
        self,
        dataset: str,
        filename: str,
        stream: BinaryIO,
        *,
        max_bytes: int | None,
        source: str | None = None,
    ) -> RawObject:
        """Stream bytes in, hashing as they arrive; create-only under the content key.

        ``source`` (how the file arrived) is kept with the object where the store has metadata (GCS).
        """
        ...

    def put_file(self, dataset: str, filename: str, path: Path) -> RawObject: ...

    def open(self, key: str) -> BinaryIO: ...

    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """A local file path with the object's bytes, for readers that need one."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Remove an object; only the retention job, asked explicitly, ever calls this."""
        ...

    def uri(self, key: str) -> str: ...


def iter_chunks(stream: BinaryIO, size: int = 1024 * 1024) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk

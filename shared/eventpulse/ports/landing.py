"""The raw landing port: immutable, content-addressed, create-only bytes (filesystem, object store)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class RawObject:
    key: str
    sha256: str
    size_bytes: int
    created: bool
    """False when an object with identical bytes already existed (it was not rewritten)."""
    uri: str


class RawLanding(Protocol):
    """An immutable, content-addressed, create-only store of exact file bytes (filesystem, GCS)."""

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


@dataclass(frozen=True)
class StoredObject:
    """What a bucket landing knows of one object generation."""

    bucket: str
    name: str
    generation: int
    size: int
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str | None:
        """The original client filename from the metadata (stored percent-encoded), if any."""
        from urllib.parse import unquote

        raw = self.metadata.get("filename")
        return unquote(raw) if raw else None


@runtime_checkable
class BucketLanding(RawLanding, Protocol):
    """A raw landing in an object store (GCS): what finalize events, backfills and signed URLs need."""

    @property
    def bucket_name(self) -> str: ...

    @property
    def raw_prefix(self) -> str: ...

    def object_name(self, dataset: str, sha256: str, filename: str) -> str: ...

    def stat(self, name: str, *, bucket: str | None = None) -> StoredObject | None: ...

    def hash_object(self, obj: StoredObject, *, max_bytes: int | None = None) -> tuple[str, int]:
        """(sha256, size) of the object's bytes, streamed."""
        ...

    def copy_create_only(self, source: StoredObject, name: str, metadata: Mapping[str, str]) -> bool:
        """Copy server-side to ``name`` unless it exists; True when this call created it."""
        ...

    def delete_generation(self, obj: StoredObject) -> bool: ...

    def signed_put_url(self, name: str, *, headers: Mapping[str, str], expires: Any) -> str: ...

    def signed_get_url(self, name: str, *, expires: Any) -> str:
        """A short-lived signed GET URL for ``name`` (read links, e.g. device media)."""
        ...

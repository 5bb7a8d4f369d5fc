"""Keys of the raw landing zone: content-addressed, derived from the dataset and the bytes (pure).

The port itself (``RawLanding``) is in ``eventpulse.ports``."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import BinaryIO
from urllib.parse import quote

from eventpulse.errors import BadRequest
from eventpulse.schema.naming import DATASET_NAME_RE

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSION = re.compile(r"^\.[a-z0-9]{1,10}$")


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


def iter_chunks(stream: BinaryIO, size: int = 1024 * 1024) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def encode_metadata_filename(filename: str) -> str:
    """A client file name as object metadata: percent-encoded UTF-8 (metadata travels as HTTP headers)."""
    return quote(filename, safe=" ()[]_-.,+@")


def content_type_for(filename: str) -> str:
    """The MIME type of a file name's extension, ``application/octet-stream`` when unknown."""
    return mimetypes.guess_type(f"x{extension_of(filename)}")[0] or "application/octet-stream"

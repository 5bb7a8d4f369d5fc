"""File formats EventPulse reads, detected from the file name (pure)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal

from eventpulse.errors import UnsupportedMediaType

FileFormat = Literal["csv", "xlsx", "json", "ndjson", "parquet"]

EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
}


def detect_format(filename: str) -> FileFormat:
    """Return the format of ``filename`` from its extension (case-insensitive)."""
    suffix = PurePath(filename.strip()).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        allowed = ", ".join(EXTENSIONS)
        shown = suffix or "no extension"
        raise UnsupportedMediaType(
            f"file {filename!r} has an unsupported type ({shown})",
            hint=f"send a file ending in one of: {allowed}",
            details={"filename": filename, "allowed_extensions": list(EXTENSIONS)},
        )
    return fmt

"""File formats EventPulse reads, detected from the file name, and the text encodings it decodes (pure)."""

from __future__ import annotations

import codecs
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


TEXT_ENCODING_EXAMPLES = "utf-8, cp1252, latin-1, utf-16, cp1250 or shift_jis"
_MAX_ENCODING_NAME = 40
# Text codecs that encode something other than a file's text: domain names and Python literals.
_NOT_FILE_ENCODINGS = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape"})


def canonical_text_encoding(name: str) -> str | None:
    """Python's canonical name of the text encoding ``name``; None when it is not one.

    ``codecs.lookup`` also knows bytes-to-bytes codecs (zlib, base64, hex, bz2, uu, quopri) and
    str-to-str ones (rot13), which cannot decode a file into text, and raises ValueError on a NUL.
    """
    if not name or len(name) > _MAX_ENCODING_NAME or not name.isprintable():
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not info._is_text_encoding or info.name in _NOT_FILE_ENCODINGS:
        return None
    return info.name

"""A file's column names from its first bytes, read as the readers read them (pure).

Used before a file is accepted: a declared header line (signed-URL intent) or the first bytes of an
upload still arriving (``fail_fast``). CSV: the CSV reader's encoding, BOM, delimiter and quoting
rules (``csv_header``, ``encoding``); NDJSON: the keys of the first record. The names are
normalized as the readers normalize them, so they compare with the dataset's known schema. No
pyarrow here: the ``signed_url`` function imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from eventpulse.errors import ReadError
from eventpulse.parse.csv_header import read_header
from eventpulse.parse.encoding import decode_sample, detect_sample_encoding
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.jsonstream import nested_too_deeply
from eventpulse.schema.naming import normalize_column_names

HEADER_FORMATS: tuple[FileFormat, ...] = ("csv", "ndjson")
"""The formats whose header is in their first line(s): a stream can be checked as it arrives."""


@dataclass(frozen=True)
class Header:
    """Column names a file declares before its rows."""

    columns: list[str]
    """Normalized, as the readers name the columns."""
    complete: bool
    """True when these are all of the file's columns. NDJSON: the first record's keys only; later
    records may add keys, so a key missing from it does not prove a column is missing."""


def build_declared_header(line: str, label: str) -> Header:
    """The columns of a CSV header line sent as text (its delimiter sniffed, quotes honoured)."""
    _, names = read_header(line.rstrip("\r\n") + "\n", label)
    return Header(normalize_column_names(names), complete=True)


def build_declared_columns(names: Sequence[str]) -> Header:
    """The columns a client declares by name (any format)."""
    return Header(normalize_column_names(names), complete=True)


def is_header_complete(sample: bytes, fmt: FileFormat, declared_encoding: str | None) -> bool:
    """True when ``sample`` (a file's first bytes) holds its whole first line.

    A CSV newline inside a quoted header field does not end it (quotes are counted).
    """
    text = decode_sample(sample, declared_encoding or _encoding_of(sample, "", at_end=False))
    if fmt == "ndjson":
        return any(line.strip() for line in text.split("\n")[:-1])
    quotes = 0
    for char in text:
        if char == '"':
            quotes += 1
        elif char == "\n" and quotes % 2 == 0:
            return True
    return False


def read_sample_header(
    sample: bytes, fmt: FileFormat, label: str, *, declared_encoding: str | None, at_end: bool
) -> Header:
    """The header in a file's first bytes (``at_end``: they are the whole file); ReadError if unreadable."""
    encoding = declared_encoding or _encoding_of(sample, label, at_end=at_end)
    text = decode_sample(sample, encoding)
    if fmt == "csv":
        _, names = read_header(text, label)
        return Header(normalize_column_names(names), complete=True)
    if fmt == "ndjson":
        return Header(normalize_column_names(_first_record_keys(text, label)), complete=False)
    raise ReadError(f"file {label!r}: a {fmt} file has no header line to read before its end")


def _encoding_of(sample: bytes, label: str, *, at_end: bool) -> str:
    return detect_sample_encoding(sample, label, at_end=at_end)


def _first_record_keys(text: str, label: str) -> list[str]:
    line = next((ln for ln in text.split("\n") if ln.strip()), "")
    if not line:
        raise ReadError(f"the file {label!r} is empty (no record)", hint="send one JSON object per line")
    try:
        record = json.loads(line)
    except RecursionError:
        raise nested_too_deeply(label, 1) from None
    except ValueError as exc:
        raise ReadError(
            f"file {label!r} is not valid JSON (line 1): {str(exc)[:200]}",
            hint="fix the JSON syntax and send the file again",
        ) from None
    if not isinstance(record, dict):
        raise ReadError(
            f"file {label!r}: record 1 is not a JSON object",
            hint="send one JSON object per line (NDJSON)",
        )
    return [str(key) for key in record]

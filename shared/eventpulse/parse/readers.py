"""Streaming readers: one file on disk → record batches with normalized column names.

Every reader re-opens the file on each ``batches()`` call, so a caller can infer the schema in one
pass and load in a second without holding the file in memory. Memory bounds: CSV, NDJSON, JSON and
Parquet hold one batch at a time; XLSX holds the selected sheet (see ``XlsxSource``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eventpulse.errors import ReadError
from eventpulse.parse.csv_header import EMPTY_HINT, sniff_delimiter
from eventpulse.parse.csv_reader import CsvSource
from eventpulse.parse.encoding import detect_encoding
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.json_reader import JsonSource
from eventpulse.parse.parquet_reader import ParquetSource
from eventpulse.parse.source import ReadOptions, TabularSource
from eventpulse.parse.xlsx_reader import XlsxSource

__all__ = ["ReadOptions", "TabularSource", "detect_encoding", "open_source", "sniff_delimiter"]


DEFAULT_OPTIONS = ReadOptions()


def open_source(path: Path, fmt: FileFormat, options: ReadOptions = DEFAULT_OPTIONS) -> TabularSource:
    """Open ``path`` as ``fmt``; raise ReadError with a message a user can act on."""
    openers: dict[FileFormat, Callable[[Path, ReadOptions], TabularSource]] = {
        "csv": CsvSource.open,
        "xlsx": XlsxSource.open,
        "json": JsonSource.open_json,
        "ndjson": JsonSource.open_ndjson,
        "parquet": ParquetSource.open,
    }
    label = options.label(path)
    if not path.is_file():
        raise ReadError(f"file {label!r} does not exist", hint="check the path of the raw object")
    if path.stat().st_size == 0:
        raise ReadError(f"the file {label!r} is empty (0 bytes)", hint=EMPTY_HINT)
    return openers[fmt](path, options)

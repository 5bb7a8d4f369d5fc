"""CSV: sniffed delimiter, detected encoding, every value as text, streamed in record batches."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from eventpulse.errors import ReadError
from eventpulse.parse.csv_header import EMPTY_HINT, sniff_delimiter
from eventpulse.parse.encoding import arrow_encoding, detect_encoding, sample_text
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.headers import HEADER_PROBE_ROWS, find_header_row
from eventpulse.parse.source import ReadOptions, build_reason
from eventpulse.schema.naming import normalize_column_names

BLOCK_BYTES = 1 << 22
"""pyarrow reads 4 MiB blocks: a row must fit in one."""


def _first_rows(text: str, delimiter: str) -> list[list[str]]:
    """The first physical rows (blank ones as []), up to one the csv module refuses (a huge field)."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows.extend(itertools.islice(reader, HEADER_PROBE_ROWS))
    except csv.Error:
        pass  # the rows before it are enough to find the header; pyarrow reads the rest
    return rows or [[]]


@dataclass
class CsvSource:
    path: Path
    label: str
    encoding: str | None
    delimiter: str
    original_columns: list[str]
    columns: list[str]
    batch_rows: int
    format: FileFormat = "csv"
    header_row: int = 0
    """0-based line of the header (title and blank lines above it are skipped)."""

    @classmethod
    def open(cls, path: Path, options: ReadOptions) -> CsvSource:
        label = options.label(path)
        encoding = detect_encoding(path, label, options.encoding)
        text = sample_text(path, encoding)
        lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
        if not lines:
            raise ReadError(f"the file {label!r} is empty (no header)", hint=EMPTY_HINT)
        delimiter = sniff_delimiter(lines[:-1] if len(lines) > 1 else lines)
        # Physical rows, blank ones included, so that the header's index is the rows to skip.
        top = _first_rows(text, delimiter)
        header_row = find_header_row(top, options.expected_columns)
        header = top[header_row]
        return cls(
            path,
            label,
            encoding,
            delimiter,
            header,
            normalize_column_names(header),
            options.batch_rows,
            header_row=header_row,
        )

    def batches(self) -> Iterator[pa.RecordBatch]:
        bad_rows: list[Any] = []

        def on_invalid(row: Any) -> str:
            bad_rows.append(row)
            return "error"

        yielded = False
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(
                    column_names=self.columns,
                    skip_rows=self.header_row + 1,
                    encoding=arrow_encoding(self.encoding),
                    block_size=BLOCK_BYTES,
                    use_threads=False,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in self.columns},
                    strings_can_be_null=True,
                    null_values=[""],
                    quoted_strings_can_be_null=True,
                ),
            )
            for batch in reader:
                for start in range(0, batch.num_rows, self.batch_rows):
                    yielded = True
                    yield batch.slice(start, self.batch_rows)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise self._error(exc, bad_rows) from exc
        if not yielded:
            yield pa.RecordBatch.from_pylist([], schema=pa.schema([(c, pa.string()) for c in self.columns]))

    def _error(self, exc: Exception, bad_rows: list[Any]) -> ReadError:
        if bad_rows:
            row = bad_rows[0]
            where = f"line {row.number}" if row.number is not None else "a row"
            return ReadError(
                f"file {self.label!r}: {where} has {row.actual_columns} fields, the header has "
                f"{row.expected_columns}",
                hint="fix that row (a missing or extra delimiter, or an unclosed quote) and resend the file",
                details={"line": row.number},
            )
        message = str(exc)
        if "straddling" in message:  # one row longer than a read block
            return ReadError(
                f"file {self.label!r} has a row longer than {BLOCK_BYTES >> 20} MiB, or a quote that is "
                "never closed (which makes the rest of the file one value)",
                hint=f"close the quote, or split the long value: rows up to {BLOCK_BYTES >> 20} MiB "
                "always read",
                details={"max_row_bytes": BLOCK_BYTES},
            )
        if "UTF8" in message or isinstance(exc, UnicodeDecodeError):
            return ReadError(
                f"file {self.label!r} is not valid {self.encoding} text past its first megabyte",
                hint="re-save the file as UTF-8",
            )
        return ReadError(
            f"file {self.label!r} cannot be parsed as CSV: {build_reason(exc, self.path, self.label)}",
            hint="check that it is a delimited text file with one header row",
        )

"""XLSX: one sheet of a workbook, decoded with fastexcel (the sheet is held in memory; see XlsxSource)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from eventpulse.errors import ReadError
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.headers import HEADER_PROBE_ROWS, find_header_row
from eventpulse.parse.source import ReadOptions, build_reason, rename_columns
from eventpulse.parse.xlsx_guard import ensure_safe_workbook
from eventpulse.schema.naming import normalize_column_names


@contextmanager
def _read_errors(path: Path, label: str) -> Iterator[None]:
    """fastexcel's complaints about the file's content as a ReadError: no retry can change the bytes."""
    try:
        yield
    except ReadError:
        raise
    except Exception as exc:  # fastexcel raises its own error tree
        raise ReadError(
            f"file {label!r} is not a readable .xlsx workbook: {build_reason(exc, path, label)}",
            hint="open it in a spreadsheet tool and save it as .xlsx",
        ) from exc


@dataclass
class XlsxSource:
    """An Excel sheet. fastexcel cannot stream a sheet: the whole sheet is decoded once per
    ``batches()`` call and sliced zero-copy. Memory is bounded by the sheet (Excel caps a sheet at
    1,048,576 rows); the upload size limit bounds it further."""

    path: Path
    label: str
    sheet: str | int
    original_columns: list[str]
    columns: list[str]
    batch_rows: int
    format: FileFormat = "xlsx"
    encoding: str | None = None
    header_row: int = 0
    """0-based index of the header among the sheet's rows, counted from its first non-empty row
    (title and blank rows above it are skipped; data row 1 is the row below it)."""
    sheet_names: tuple[str, ...] = ()
    """Every sheet of the workbook, in workbook order."""

    @classmethod
    def open(cls, path: Path, options: ReadOptions) -> XlsxSource:
        import fastexcel

        label = options.label(path)
        ensure_safe_workbook(path, label, options.limits)  # before calamine allocates anything
        with _read_errors(path, label):
            reader = fastexcel.read_excel(path)
        names = reader.sheet_names
        sheet = 0 if options.sheet is None else options.sheet
        known = (0 <= sheet < len(names)) if isinstance(sheet, int) else sheet in names
        if not known:
            raise ReadError(
                f"file {label!r} has no sheet {sheet!r}; available sheets: {names}",
                hint="choose one of the available sheets",
                details={"sheets": names},
            )
        with _read_errors(path, label):
            probe = reader.load_sheet(sheet, header_row=None, n_rows=HEADER_PROBE_ROWS, dtypes="string")
            top = probe.to_arrow()
        if top.num_rows == 0:
            raise ReadError(f"sheet {sheet!r} of {label!r} is empty", hint="put a header row in row 1")
        rows = [list(row.values()) for row in top.to_pylist()]
        header_row = find_header_row(rows, options.expected_columns)
        original = [str(v) if v is not None else "" for v in rows[header_row]]
        return cls(
            path,
            label,
            sheet,
            original,
            normalize_column_names(original),
            options.batch_rows,
            header_row=header_row,
            sheet_names=tuple(names),
        )

    def batches(self) -> Iterator[pa.RecordBatch]:
        import fastexcel

        # schema_sample_rows=None: column types come from every row, so they do not depend on which
        # rows happen to be first; a column mixing numbers and text becomes text.
        with _read_errors(self.path, self.label):
            sheet = fastexcel.read_excel(self.path).load_sheet(
                self.sheet, header_row=self.header_row, schema_sample_rows=None
            )
            data = rename_columns(sheet.to_arrow(), self.columns)
        data = pa.RecordBatch.from_arrays(
            [c.cast(pa.string()) if pa.types.is_null(c.type) else c for c in data.columns], names=self.columns
        )
        if data.num_rows == 0:
            yield data
        for start in range(0, data.num_rows, self.batch_rows):
            yield data.slice(start, self.batch_rows)

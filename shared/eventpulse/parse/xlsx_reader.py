"""XLSX: one sheet of a workbook, decoded with fastexcel (the sheet is held in memory; see XlsxSource)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from eventpulse.errors import ReadError
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.headers import HEADER_PROBE_ROWS, find_header_row
from eventpulse.parse.source import ReadOptions, build_reason, rename_columns
from eventpulse.parse.xlsx_guard import ensure_safe_workbook
from eventpulse.schema.naming import normalize_column_names

if TYPE_CHECKING:
    from fastexcel import ColumnInfo, ExcelReader


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
    """An Excel sheet. fastexcel cannot stream a sheet: the whole sheet is decoded once, held for
    the source's life and sliced zero-copy. Memory is bounded by the sheet (Excel caps a sheet at
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
    _decoded: pa.RecordBatch | None = field(default=None, init=False, repr=False, compare=False)
    """The typed sheet, once decoded: ``open`` decodes it when the header is the first row."""

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
        header, decoded = _decode_with_first_row_header(reader, sheet, options)
        if header is not None:
            return cls._build(path, label, sheet, names, header, options, 0, decoded)
        with _read_errors(path, label):
            probe = reader.load_sheet(sheet, header_row=None, n_rows=HEADER_PROBE_ROWS, dtypes="string")
            probed = probe.to_arrow()
        if probed.num_rows == 0:
            raise ReadError(f"sheet {sheet!r} of {label!r} is empty", hint="put a header row in row 1")
        rows = [list(row.values()) for row in probed.to_pylist()]
        header_row = find_header_row(rows, options.expected_columns)
        original = [str(v) if v is not None else "" for v in rows[header_row]]
        # The speculative decode is the one batches() would make when the header is the first row
        # after all (a header with an empty, date, boolean or repeated cell): no second decode then.
        reused = decoded if header_row == 0 else None
        return cls._build(path, label, sheet, names, original, options, header_row, reused)

    @classmethod
    def _build(
        cls,
        path: Path,
        label: str,
        sheet: str | int,
        names: list[str],
        original: list[str],
        options: ReadOptions,
        header_row: int,
        decoded: pa.RecordBatch | None,
    ) -> XlsxSource:
        source = cls(
            path,
            label,
            sheet,
            original,
            normalize_column_names(original),
            options.batch_rows,
            header_row=header_row,
            sheet_names=tuple(names),
        )
        source._decoded = decoded
        return source

    def batches(self) -> Iterator[pa.RecordBatch]:
        data = self._decoded if self._decoded is not None else self._decode()
        self._decoded = data  # a second pass (a changed drift plan) reads the same decode
        data = rename_columns(data, self.columns)
        data = pa.RecordBatch.from_arrays(
            [c.cast(pa.string()) if pa.types.is_null(c.type) else c for c in data.columns], names=self.columns
        )
        if data.num_rows == 0:
            yield data
        for start in range(0, data.num_rows, self.batch_rows):
            yield data.slice(start, self.batch_rows)

    def _decode(self) -> pa.RecordBatch:
        import fastexcel

        # schema_sample_rows=None: column types come from every row, so they do not depend on which
        # rows happen to be first; a column mixing numbers and text becomes text.
        with _read_errors(self.path, self.label):
            sheet = fastexcel.read_excel(self.path).load_sheet(
                self.sheet, header_row=self.header_row, schema_sample_rows=None
            )
            return sheet.to_arrow()


def _decode_with_first_row_header(
    reader: ExcelReader, sheet: str | int, options: ReadOptions
) -> tuple[list[str] | None, pa.RecordBatch | None]:
    """The header and the typed sheet in one decode, when the header is the sheet's first row.

    Most workbooks have their header there, so the sheet is decoded as such and the header probe
    (``find_header_row``) reads its first rows from that decode. The header is None when the probe
    finds it lower, or when its cells cannot be told from fastexcel's column names: the caller then
    probes the rows as text, and decodes again only if the header it finds is not the first row.
    """
    import fastexcel

    try:
        typed = reader.load_sheet(sheet, header_row=0, schema_sample_rows=None)
        if not typed.width:
            return None, None
        decoded = typed.to_arrow()
    except fastexcel.FastExcelError:
        return None, None  # the text probe and the decode under its header report what is wrong
    header = _header_cells(typed.available_columns())
    if header is None:
        return None, decoded
    top: list[list[str | None]] = [list(header), *_as_text(decoded.slice(0, HEADER_PROBE_ROWS - 1))]
    if find_header_row(top, options.expected_columns) != 0:
        return None, decoded
    return header, decoded


def _header_cells(columns: list[ColumnInfo]) -> list[str] | None:
    """The header row's cells as the user wrote them, from the names fastexcel gave the columns.

    None when the names may differ from the cells: fastexcel generates ``__UNNAMED__<i>`` for an
    empty header cell and for a date or boolean one, and renames a repeated name ``x_1``; so a
    generated name, or ``x_1`` beside ``x``, sends the caller to read the header row as text.
    """
    if any(c.column_name_from == "generated" for c in columns):
        return None
    names = [c.name for c in columns]
    seen = set(names)
    for name in names:
        base, sep, suffix = name.rpartition("_")
        if sep and suffix.isdigit() and base in seen:
            return None
    return names


def _as_text(batch: pa.RecordBatch) -> list[list[str | None]]:
    """Typed rows rendered as the header probe reads cells: text, numbers without a trailing ``.0``."""
    return [[_cell_text(v) for v in row.values()] for row in batch.to_pylist()]


def _cell_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

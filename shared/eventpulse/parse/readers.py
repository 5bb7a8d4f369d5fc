"""Streaming readers: one file on disk → record batches with normalized column names.

Every reader re-opens the file on each ``batches()`` call, so a caller can infer the schema in one
pass and load in a second without holding the file in memory. Memory bounds: CSV, NDJSON, JSON and
Parquet hold one batch at a time; XLSX holds the selected sheet (see ``XlsxSource``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from eventpulse.errors import ReadError
from eventpulse.parse.formats import TEXT_ENCODING_EXAMPLES, FileFormat, canonical_text_encoding
from eventpulse.parse.jsonstream import iter_json_array, iter_ndjson
from eventpulse.schema.naming import normalize_column_names

_SAMPLE_BYTES = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_MAX_CHAOS = 0.2  # charset_normalizer "mess" ratio above which a detection is not trusted
_EMPTY_HINT = "send a file with a header row and data rows"
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class ReadOptions:
    sheet: str | int | None = None  # xlsx: first sheet by default
    batch_rows: int = 100_000
    display_name: str | None = None  # the name the user sent; error messages use it, not the raw key
    encoding: str | None = None  # declared text encoding (CSV/JSON); None means detect

    def label(self, path: Path) -> str:
        return self.display_name or path.name


class TabularSource(Protocol):
    format: FileFormat
    columns: list[str]
    original_columns: list[str]
    encoding: str | None

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Record batches with exactly ``columns``; at least one (possibly empty) batch."""
        ...


def open_source(path: Path, fmt: FileFormat, options: ReadOptions = ReadOptions()) -> TabularSource:
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
        raise ReadError(f"the file {label!r} is empty (0 bytes)", hint=_EMPTY_HINT)
    return openers[fmt](path, options)


def _rename(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns, names=names)


# --- CSV ---------------------------------------------------------------------------------------


def detect_encoding(path: Path, label: str | None = None, declared: str | None = None) -> str:
    """The text encoding of ``path``.

    In order: the encoding the user declared; a BOM; UTF-16 without a BOM (every other byte NUL);
    UTF-8 when the sample is valid; Windows-1252 when it decodes to printable text (what Excel and
    Windows write in Western locales: a superset of Latin-1's printable characters); else a confident
    charset-normalizer guess; else a ReadError asking for UTF-8.
    """
    name = label or path.name
    if declared:
        canonical = canonical_text_encoding(declared)
        if canonical is None:  # intake refuses these; an ingestion registered before it did is terminal
            raise ReadError(
                f"encoding {declared[:40]!r} declared for {name!r} is not a known text encoding",
                hint=f"upload the file again declaring a text encoding such as {TEXT_ENCODING_EXAMPLES}",
            )
        return canonical
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
        at_end = fh.read(1) == b""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=at_end)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _is_printable_cp1252(sample):
        return "cp1252"
    import charset_normalizer  # only needed for the rare file that is neither

    best = charset_normalizer.from_bytes(sample).best()
    if best is None or best.chaos > _MAX_CHAOS:
        suspected = best.encoding if best is not None else "unknown"
        raise ReadError(
            f"file {name!r} is not UTF-8 and its encoding could not be detected with confidence "
            f"(suspected: {suspected})",
            hint="re-save the file as UTF-8, or declare its encoding (?encoding=...)",
            details={"suspected_encoding": suspected},
        )
    return str(best.encoding)


def _utf16_without_bom(sample: bytes) -> str | None:
    """utf-16-le/-be when NULs fill one byte position of each pair and not the other (ASCII text)."""
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _is_printable_cp1252(sample: bytes) -> bool:
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined in cp1252
        return False
    return not any(ch < " " and ch not in "\t\r\n" for ch in text)


def _sample_text(path: Path, encoding: str) -> str:
    with path.open("rb") as fh:
        raw = fh.read(_SAMPLE_BYTES)
    return codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)(
        errors="replace"
    ).decode(raw, final=False)


def _arrow_encoding(encoding: str | None) -> str:
    # "utf8" is Arrow's native path (no transcoding; a UTF-8 BOM is skipped); others go through codecs.
    return "utf8" if encoding in (None, "utf-8", "utf_8") else encoding


def sniff_delimiter(lines: list[str]) -> str:
    """The candidate delimiter that splits the first lines into the same number (> 1) of fields."""
    best, best_score = ",", (0, 0)
    for delim in _DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


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

    @classmethod
    def open(cls, path: Path, options: ReadOptions) -> CsvSource:
        label = options.label(path)
        encoding = detect_encoding(path, label, options.encoding)
        text = _sample_text(path, encoding)
        lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
        if not lines:
            raise ReadError(f"the file {label!r} is empty (no header)", hint=_EMPTY_HINT)
        delimiter = sniff_delimiter(lines[:-1] if len(lines) > 1 else lines)
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
        return cls(
            path, label, encoding, delimiter, header, normalize_column_names(header), options.batch_rows
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
                    skip_rows=1,
                    encoding=_arrow_encoding(self.encoding),
                    block_size=1 << 22,
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
        if "UTF8" in message or isinstance(exc, UnicodeDecodeError):
            return ReadError(
                f"file {self.label!r} is not valid {self.encoding} text past its first megabyte",
                hint="re-save the file as UTF-8",
            )
        return ReadError(
            f"file {self.label!r} cannot be parsed as CSV: {message}",
            hint="check that it is a delimited text file with one header row",
        )


# --- XLSX --------------------------------------------------------------------------------------


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

    @classmethod
    def open(cls, path: Path, options: ReadOptions) -> XlsxSource:
        import fastexcel

        label = options.label(path)
        try:
            reader = fastexcel.read_excel(path)
        except Exception as exc:  # fastexcel raises its own error tree
            raise ReadError(
                f"file {label!r} is not a readable .xlsx workbook: {exc}",
                hint="open it in a spreadsheet tool and save it as .xlsx",
            ) from exc
        names = reader.sheet_names
        sheet = 0 if options.sheet is None else options.sheet
        known = (0 <= sheet < len(names)) if isinstance(sheet, int) else sheet in names
        if not known:
            raise ReadError(
                f"file {label!r} has no sheet {sheet!r}; available sheets: {names}",
                hint="choose one of the available sheets",
                details={"sheets": names},
            )
        header = reader.load_sheet(sheet, header_row=None, n_rows=1, dtypes="string").to_arrow()
        if header.num_rows == 0:
            raise ReadError(f"sheet {sheet!r} of {label!r} is empty", hint="put a header row in row 1")
        original = [str(v) if v is not None else "" for v in header.to_pylist()[0].values()]
        return cls(path, label, sheet, original, normalize_column_names(original), options.batch_rows)

    def batches(self) -> Iterator[pa.RecordBatch]:
        import fastexcel

        # schema_sample_rows=None: column types come from every row, so they do not depend on which
        # rows happen to be first; a column mixing numbers and text becomes text.
        sheet = fastexcel.read_excel(self.path).load_sheet(self.sheet, schema_sample_rows=None)
        data = _rename(sheet.to_arrow(), self.columns)
        data = pa.RecordBatch.from_arrays(
            [c.cast(pa.string()) if pa.types.is_null(c.type) else c for c in data.columns], names=self.columns
        )
        if data.num_rows == 0:
            yield data
        for start in range(0, data.num_rows, self.batch_rows):
            yield data.slice(start, self.batch_rows)


# --- JSON / NDJSON -----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**63) <= value < 2**63 else "text"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "text"  # nested object or array


_ARROW_FOR_KINDS: dict[frozenset[str], pa.DataType] = {
    frozenset({"bool"}): pa.bool_(),
    frozenset({"int"}): pa.int64(),
    frozenset({"float"}): pa.float64(),
    frozenset({"int", "float"}): pa.float64(),
}


@dataclass
class JsonSource:
    """A JSON array of objects or NDJSON. pyarrow.json is not used: it rejects a key whose type
    changes between rows and turns nested objects into structs. Instead a first pass collects the
    keys and JSON value kinds (bounded memory), a second builds typed batches."""

    path: Path
    label: str
    encoding: str | None
    original_columns: list[str]
    columns: list[str]
    types: list[pa.DataType]
    batch_rows: int
    format: FileFormat = "json"

    @classmethod
    def open_json(cls, path: Path, options: ReadOptions) -> JsonSource:
        return cls.open(path, options, ndjson=False)

    @classmethod
    def open_ndjson(cls, path: Path, options: ReadOptions) -> JsonSource:
        return cls.open(path, options, ndjson=True)

    @classmethod
    def open(cls, path: Path, options: ReadOptions, *, ndjson: bool) -> JsonSource:
        label = options.label(path)
        encoding = detect_encoding(path, label, options.encoding)
        kinds: dict[str, set[str]] = {}
        for record in _records(path, encoding, ndjson, label):
            for key, value in record.items():
                kinds.setdefault(key, set()).add(_kind(value))
        original = list(kinds)
        types = [_ARROW_FOR_KINDS.get(frozenset(k - {"null"}), pa.string()) for k in kinds.values()]
        fmt: FileFormat = "ndjson" if ndjson else "json"
        columns = normalize_column_names(original)
        return cls(path, label, encoding, original, columns, types, options.batch_rows, fmt)

    def batches(self) -> Iterator[pa.RecordBatch]:
        schema = pa.schema(list(zip(self.columns, self.types, strict=True)))
        rows: list[dict[str, Any]] = []
        yielded = False
        for record in _records(self.path, self.encoding, self.format == "ndjson", self.label):
            rows.append(record)
            if len(rows) >= self.batch_rows:
                yielded = True
                yield self._batch(rows, schema)
                rows = []
        if rows or not yielded:
            yield self._batch(rows, schema)

    def _batch(self, rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
        arrays = []
        for key, kind in zip(self.original_columns, self.types, strict=True):
            values = [row.get(key) for row in rows]
            if kind == pa.string():
                values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
            arrays.append(pa.array(values, kind))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _records(path: Path, encoding: str | None, ndjson: bool, label: str) -> Iterator[dict[str, Any]]:
    text_encoding = encoding or "utf-8"
    items = iter_ndjson(path, text_encoding) if ndjson else iter_json_array(path, text_encoding)
    number = 0
    try:
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ReadError(
                    f"file {label!r}: record {number} is not a JSON object",
                    hint="send an array of objects, or one object per line (NDJSON)",
                )
            yield item
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        where = f"line {number + 1}" if ndjson else f"after record {number}"
        raise ReadError(
            f"file {label!r} is not valid JSON ({where}): {exc}",
            hint="fix the JSON syntax and send the file again",
        ) from exc


# --- Parquet -----------------------------------------------------------------------------------


@dataclass
class ParquetSource:
    path: Path
    label: str
    original_columns: list[str]
    columns: list[str]
    batch_rows: int
    format: FileFormat = "parquet"
    encoding: str | None = field(default=None)

    @classmethod
    def open(cls, path: Path, options: ReadOptions) -> ParquetSource:
        label = options.label(path)
        try:
            original = pq.ParquetFile(path).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise ReadError(
                f"file {label!r} is not a readable Parquet file: {exc}",
                hint="write it again with a Parquet library and resend it",
            ) from exc
        return cls(path, label, original, normalize_column_names(original), options.batch_rows)

    def batches(self) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(self.path)
        yielded = False
        for batch in pf.iter_batches(batch_size=self.batch_rows):
            yielded = True
            yield _rename(batch, self.columns)
        if not yielded:
            yield _rename(pa.RecordBatch.from_pylist([], schema=pf.schema_arrow), self.columns)

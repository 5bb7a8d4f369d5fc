"""JSON arrays and NDJSON: typed columns per key, nested values kept as JSON text.

NDJSON goes through pyarrow.json block by block (``json_arrow``) when that gives exactly the
record-by-record result; every other file, and every JSON array, is read one object at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from eventpulse.errors import ReadError
from eventpulse.parse import json_arrow
from eventpulse.parse.encoding import detect_encoding
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.jsonstream import RecordTooLarge, iter_json_array, iter_ndjson, nested_too_deeply
from eventpulse.parse.limits import ReadLimits, build_limit_error, describe_bytes
from eventpulse.parse.source import ReadOptions, build_reason
from eventpulse.schema.naming import normalize_column_names


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
    """A JSON array of objects or NDJSON. A first pass collects the keys and JSON value kinds
    (bounded memory), a second builds typed batches. For NDJSON both passes try pyarrow.json first;
    on its own pyarrow rejects a key whose type changes between rows and turns nested objects into
    structs, so a file with such a feature (``json_arrow.NotFast``) is read record by record."""

    path: Path
    label: str
    encoding: str | None
    original_columns: list[str]
    columns: list[str]
    types: list[pa.DataType]
    batch_rows: int
    format: FileFormat = "json"
    limits: ReadLimits = ReadLimits()
    spill: json_arrow.Spill | None = None
    """The blocks pyarrow.json parsed in the first pass (``json_arrow``); None: record by record."""

    @property
    def columnar(self) -> bool:
        return self.spill is not None

    @classmethod
    def open_json(cls, path: Path, options: ReadOptions) -> JsonSource:
        return cls.open(path, options, ndjson=False)

    @classmethod
    def open_ndjson(cls, path: Path, options: ReadOptions) -> JsonSource:
        return cls.open(path, options, ndjson=True)

    @classmethod
    def open(cls, path: Path, options: ReadOptions, *, ndjson: bool, columnar: bool = True) -> JsonSource:
        """``columnar=False`` forces the record-by-record reader (the reference the tests compare)."""
        label = options.label(path)
        encoding = detect_encoding(path, label, options.encoding)
        kinds: dict[str, set[str]] | None = None
        spill: json_arrow.Spill | None = None
        if ndjson and columnar:
            try:
                kinds, spill = json_arrow.scan(path, encoding, options.limits.json_max_record_bytes)
            except json_arrow.NotFast:
                kinds = None
        if kinds is None:
            kinds = {}
            for record in _records(path, encoding, ndjson, label, options.limits):
                for key, value in record.items():
                    kinds.setdefault(key, set()).add(_kind(value))
        original = list(kinds)
        types = [_ARROW_FOR_KINDS.get(frozenset(k - {"null"}), pa.string()) for k in kinds.values()]
        fmt: FileFormat = "ndjson" if ndjson else "json"
        columns = normalize_column_names(original)
        return cls(
            path, label, encoding, original, columns, types, options.batch_rows, fmt, options.limits, spill
        )

    def batches(self) -> Iterator[pa.RecordBatch]:
        schema = pa.schema(list(zip(self.columns, self.types, strict=True)))
        if self.spill is not None:
            yield from self._columnar_batches(self.spill, schema)
            return
        rows: list[dict[str, Any]] = []
        yielded = False
        for record in _records(self.path, self.encoding, self.format == "ndjson", self.label, self.limits):
            rows.append(record)
            if len(rows) >= self.batch_rows:
                yielded = True
                yield self._batch(rows, schema)
                rows = []
        if rows or not yielded:
            yield self._batch(rows, schema)

    def _columnar_batches(self, spill: json_arrow.Spill, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The same batches as the record reader's: ``batch_rows`` rows each, the last one shorter."""
        by_key = pa.schema(list(zip(self.original_columns, self.types, strict=True)))
        tables = json_arrow.read_tables(spill, by_key)
        pending: list[pa.RecordBatch] = []
        held = 0
        yielded = False
        for table in tables:
            for piece in table.rename_columns(self.columns).to_batches():
                pending.append(piece)
                held += piece.num_rows
            while held >= self.batch_rows:
                merged = pa.concat_batches(pending) if len(pending) > 1 else pending[0]
                yielded = True
                yield merged.slice(0, self.batch_rows)
                pending, held = [merged.slice(self.batch_rows)], held - self.batch_rows
        if held or not yielded:
            pieces = [p for p in pending if p.num_rows] or [pa.RecordBatch.from_pylist([], schema=schema)]
            yield pa.concat_batches(pieces) if len(pieces) > 1 else pieces[0]

    def _batch(self, rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
        arrays = []
        for key, kind in zip(self.original_columns, self.types, strict=True):
            values = [row.get(key) for row in rows]
            if kind == pa.string():
                values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
            arrays.append(pa.array(values, kind))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _records(
    path: Path, encoding: str | None, ndjson: bool, label: str, limits: ReadLimits
) -> Iterator[dict[str, Any]]:
    text_encoding = encoding or "utf-8"
    bound = limits.json_max_record_bytes
    items = (
        iter_ndjson(path, text_encoding, bound)
        if ndjson
        else iter_json_array(path, text_encoding, max_chars=bound)
    )
    number = 0
    try:
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ReadError(
                    f"file {label!r}: record {number} is not a JSON object",
                    hint="send an array of objects, or one object per line (NDJSON)",
                )
            yield item
    except RecordTooLarge as exc:
        where = f"line {number + 1}" if ndjson else f"record {number + 1}"
        raise build_limit_error(
            label,
            "JSON record size",
            f"{where} is over {describe_bytes(exc.limit)}",
            describe_bytes(exc.limit),
            "json_max_record_bytes",
        ) from exc
    except RecursionError as exc:
        raise nested_too_deeply(label, number + 1) from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        where = f"line {number + 1}" if ndjson else f"after record {number}"
        raise ReadError(
            f"file {label!r} is not valid JSON ({where}): {build_reason(exc, path, label)}",
            hint="fix the JSON syntax and send the file again",
        ) from exc

"""Parquet: row groups streamed as record batches, with the file's own types.

Before anything is decoded, the footer's size and every row group's declared uncompressed size are
held to ``ReadLimits`` (one row group is decoded at a time); damaged data is a read error.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eventpulse.errors import ReadError
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.limits import ReadLimits, build_limit_error, describe_bytes
from eventpulse.parse.source import ReadOptions, build_reason, rename_columns
from eventpulse.schema.naming import normalize_column_names

_TAIL = struct.Struct("<I4s")  # footer length, then the magic b"PAR1"


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
        ensure_footer_size(path, label, options.limits)
        with _read_errors(path, label):
            parquet = pq.ParquetFile(path)
            original = parquet.schema_arrow.names
        ensure_row_groups_fit(parquet.metadata, label, options.limits)
        return cls(path, label, original, normalize_column_names(original), options.batch_rows)

    def batches(self) -> Iterator[pa.RecordBatch]:
        with _read_errors(self.path, self.label):  # a damaged page shows only when it is decoded
            pf = pq.ParquetFile(self.path)
            yielded = False
            for batch in pf.iter_batches(batch_size=self.batch_rows):
                yielded = True
                yield rename_columns(nested_as_json(batch), self.columns)
            if not yielded:
                empty = pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
                yield rename_columns(nested_as_json(empty), self.columns)


def nested_as_json(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Struct, list and map columns as JSON text, as the JSON reader keeps nested values: a curated
    column holds a scalar, and Arrow cannot cast a nested value to text itself."""
    if not any(pa.types.is_nested(f.type) for f in batch.schema):
        return batch
    arrays = [
        pa.array(
            [
                None if v is None else json.dumps(v, default=str, ensure_ascii=False)
                for v in column.to_pylist()
            ],
            pa.string(),
        )
        if pa.types.is_nested(column.type)
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


@contextmanager
def _read_errors(path: Path, label: str) -> Iterator[None]:
    try:
        yield
    except (pa.ArrowException, OSError) as exc:  # ArrowInvalid, ArrowIOError...: the bytes are at fault
        raise ReadError(
            f"file {label!r} is not a readable Parquet file: {build_reason(exc, path, label)}",
            hint="write it again with a Parquet library and resend it",
        ) from exc


def ensure_footer_size(path: Path, label: str, limits: ReadLimits) -> None:
    """The footer (the file's metadata) is read whole: refuse a missing or oversized one before reading it."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL.size))
        tail = fh.read(_TAIL.size)
    footer, magic = _TAIL.unpack(tail) if len(tail) == _TAIL.size else (0, b"")
    if magic != b"PAR1":
        raise ReadError(
            f"file {label!r} is not a readable Parquet file: it does not end with the Parquet footer "
            "(truncated, or not Parquet)",
            hint="send the whole file; write it again with a Parquet library if it was cut",
        )
    if footer > size - 12:
        raise ReadError(
            f"file {label!r} is not a readable Parquet file: its footer claims {footer:,} bytes, more than "
            "the file holds (truncated?)",
            hint="send the whole file; write it again with a Parquet library if it was cut",
        )
    if footer > limits.parquet_max_footer_bytes:
        raise build_limit_error(
            label,
            "Parquet footer size",
            describe_bytes(footer),
            describe_bytes(limits.parquet_max_footer_bytes),
            None,
        )


def ensure_row_groups_fit(metadata: pq.FileMetaData, label: str, limits: ReadLimits) -> None:
    """Refuse a row group whose declared uncompressed size is over the limit (it is decoded whole)."""
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        chunks = sum(group.column(c).total_uncompressed_size for c in range(group.num_columns))
        declared = max(group.total_byte_size, chunks)
        if declared > limits.parquet_max_row_group_bytes:
            raise build_limit_error(
                label,
                "Parquet row group size",
                f"row group {index} declares {describe_bytes(declared)} uncompressed "
                f"({group.num_rows:,} rows)",
                describe_bytes(limits.parquet_max_row_group_bytes),
                "parquet_max_row_group_bytes",
            )

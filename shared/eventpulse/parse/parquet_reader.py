"""Parquet: row groups streamed as record batches, with the file's own types."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eventpulse.errors import ReadError
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.source import ReadOptions, build_reason, rename_columns
from eventpulse.schema.naming import normalize_column_names


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
                f"file {label!r} is not a readable Parquet file: {build_reason(exc, path, label)}",
                hint="write it again with a Parquet library and resend it",
            ) from exc
        return cls(path, label, original, normalize_column_names(original), options.batch_rows)

    def batches(self) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(self.path)
        yielded = False
        for batch in pf.iter_batches(batch_size=self.batch_rows):
            yielded = True
            yield rename_columns(batch, self.columns)
        if not yielded:
            yield rename_columns(pa.RecordBatch.from_pylist([], schema=pf.schema_arrow), self.columns)

"""What every reader produces: a ``TabularSource`` of record batches, and the options a read takes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from eventpulse.parse.formats import FileFormat
from eventpulse.parse.limits import ReadLimits

MAX_REASON = 300


def build_reason(exc: BaseException, path: Path, label: str) -> str:
    """A parser's complaint about the user's file, without where the server keeps it.

    Parsers name the local path (calamine adds a ``Context:`` listing it): the user sent ``label``.
    """
    reason = str(exc).split("\nContext:", 1)[0]
    reason = " ".join(reason.replace(str(path), label).split())
    return reason[:MAX_REASON]


@dataclass(frozen=True)
class ReadOptions:
    sheet: str | int | None = None  # xlsx: first sheet by default
    batch_rows: int = 100_000
    display_name: str | None = None  # the name the user sent; error messages use it, not the raw key
    encoding: str | None = None  # declared text encoding (CSV/JSON); None means detect
    expected_columns: tuple[str, ...] = ()  # the dataset's known columns: an XLSX header row names them
    limits: ReadLimits = ReadLimits()  # what a file may expand to before it is decoded (parse/limits.py)

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


def rename_columns(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns, names=names)

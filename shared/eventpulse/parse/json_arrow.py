"""NDJSON through pyarrow.json, block by block: JsonSource's fast path.

It is used only when it gives exactly what the record-by-record reader (``json_reader._records``)
would: the same keys in the same order, the same types and the same values. Any feature it cannot
reproduce raises ``NotFast`` during the first pass, before a batch is yielded, and the caller reads
the file record by record instead (which also produces the exact error a bad file deserves). What
sends a file there is listed in docs/SCHEMA_DRIFT.md ("Reading files").
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

BLOCK_BYTES = 4 << 20
"""A block is cut at a line end; a line longer than a block is read record by record."""

_ARROW_BLOCK = 1 << 20
"""pyarrow.json's own blocks inside one of ours: its threads parse them side by side."""

MAX_EXTRA_BRACKETS = 1_000
"""Opening brackets in a block beyond one per line: no line can nest deeper than this (pyarrow.json
survives 5,000 levels, crashes the process at 20,000). Nested values fall back anyway; brackets
inside strings count too, a harmless false alarm past this many."""

EXACT_INT = 2**53
"""Past this an integer has no exact float64: Python's pyarrow refuses it in a float column."""

_IPC_OPTIONS = pa.ipc.IpcWriteOptions()  # lz4 halves the spill and costs 5x the time


class NotFast(Exception):
    """The file has a feature the columnar path cannot reproduce exactly: read it record by record."""


@dataclass
class Spill:
    """The blocks as pyarrow.json parsed them, as Arrow IPC streams in an anonymous temporary file
    (gone when this object is): the second pass reads them back instead of parsing again."""

    file: IO[bytes]
    segments: list[tuple[int, int]] = field(default_factory=list)

    def write(self, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
            writer.write_table(table)
        data = sink.getvalue()
        end = self.segments[-1][0] + self.segments[-1][1] if self.segments else 0
        self.file.seek(end)
        self.segments.append((end, data.size))
        self.file.write(data)

    def tables(self) -> Iterator[pa.Table]:
        self.file.flush()
        for offset, size in self.segments:
            self.file.seek(offset)  # seek and read together: two iterations may interleave
            data = self.file.read(size)
            yield pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def scan(path: Path, encoding: str | None, max_record_chars: int) -> tuple[dict[str, set[str]], Spill]:
    """Each key (in order of first appearance) with its JSON value kinds as ``_kind`` names, and the
    parsed blocks; NotFast when the record reader would read the file differently."""
    kinds: dict[str, set[str]] = {}
    risky: set[str] = set()
    spill = Spill(tempfile.TemporaryFile(prefix="eventpulse-ndjson-"))

    def absorb(table: pa.Table, non_finite: bool) -> None:
        for name in table.schema.names:
            kinds.setdefault(name, set()).add(_kind_of(table.schema.field(name).type))
        risky.update(_risky_keys(table, non_finite))
        spill.write(table)

    # pyarrow parses a block (without the GIL) while this thread checks the next one: on two cores
    # that hides the byte scans. A key first seen as text in the block before is not yet in
    # ``text_keys``; if Arrow then infers timestamps from it, _parse_block reads it again as text.
    with ThreadPoolExecutor(1, thread_name_prefix="eventpulse-ndjson") as pool:
        parsing: tuple[Future[pa.Table], bool] | None = None
        for block, lines in iter_blocks(path, encoding, max_record_chars):
            text_keys = [k for k, held in kinds.items() if "str" in held]
            # NaN and Infinity are the only literals that parse to a non-finite double.
            non_finite = b"NaN" in block or b"Infinity" in block
            following = (pool.submit(_parse_block, block, lines, text_keys), non_finite)
            if parsing is not None:
                absorb(parsing[0].result(), parsing[1])
            parsing = following
        if parsing is not None:
            absorb(parsing[0].result(), parsing[1])
    for key, held in kinds.items():
        if len(held - {"null", "int", "float"}) > 1 or (held & {"int", "float"} and held & {"bool", "str"}):
            # Kinds that change between blocks make the column JSON text: 1 -> "1", true -> "true".
            raise NotFast(f"key {key!r} holds {sorted(held)}")
    if not kinds:  # the record reader's batches of objects without keys have no rows: keep that
        raise NotFast("no keys")
    for key in risky:
        if "float" in kinds[key]:
            raise NotFast(f"key {key!r}: a float column with a huge integer, a -0, NaN or Infinity")
    return kinds, spill


def read_tables(spill: Spill, schema: pa.Schema) -> Iterator[pa.Table]:
    """The parsed blocks typed by ``schema`` (the file's keys): int blocks of a float key cast, a key
    missing from a block all null."""
    for table in spill.tables():
        columns = []
        for target in schema:
            if target.name not in table.schema.names:
                columns.append(pa.nulls(table.num_rows, target.type))
                continue
            column = table.column(target.name)
            columns.append(column if column.type == target.type else column.cast(target.type))
        yield pa.Table.from_arrays(columns, schema=schema)


def iter_blocks(path: Path, encoding: str | None, max_record_chars: int) -> Iterator[tuple[bytes, int]]:
    """UTF-8 blocks of whole lines and their line count: one JSON object per line, blank lines
    dropped, "\\n" line ends."""
    if encoding not in (None, "utf-8"):
        raise NotFast(f"encoding {encoding}")  # Python decodes it; Arrow reads UTF-8 only
    # Every line of a block is at most two chunks long: within the record limit by construction.
    chunk_bytes = min(BLOCK_BYTES, max_record_chars // 2)
    if chunk_bytes < 16:
        raise NotFast("a record limit under 32 characters")
    with path.open("rb") as fh:
        head = fh.read(len(codecs.BOM_UTF8))
        if head == codecs.BOM_UTF8:
            head = b""  # utf-8-sig, as the record reader decodes it
        while chunk := fh.read(chunk_bytes):
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                head += chunk
                if len(head) > chunk_bytes:
                    raise NotFast("a line longer than a block")
                continue
            block = head + chunk[:cut] if head else chunk[:cut] if cut < len(chunk) else chunk
            head = chunk[cut:]
            yield _ensure_one_object_per_line(block)
        if head:
            yield _ensure_one_object_per_line(head + b"\n")


def _ensure_one_object_per_line(block: bytes) -> tuple[bytes, int]:
    """``block`` with "\\n" line ends and no blank line, or NotFast unless each line is ``{...}``.

    Arrow reads several objects on one line, an object across lines and a lone "\\r" as blanks; the
    record reader refuses the first two and splits lines at the third. When every line starts with
    "{" and ends with "}", a line end is always between two top-level values (inside one value a "}"
    is never followed by "{"), so one object per line is the same as rows == lines.
    """
    if b"\r" in block:
        if block.count(b"\r") != block.count(b"\r\n"):
            raise NotFast('a "\\r" that is not part of "\\r\\n"')
        block = block.replace(b"\r\n", b"\n")
    while b"\n\n" in block:
        block = block.replace(b"\n\n", b"\n")
    block = block.lstrip(b"\n")
    lines = block.count(b"\n")
    # Every line end but the last sits in "}\n{" (the pattern holds one "\n": no two overlap).
    if lines and not (
        block.startswith(b"{") and block.endswith(b"}\n") and block.count(b"}\n{") == lines - 1
    ):
        raise NotFast("a line that is not exactly one {...}")
    brackets = block.count(b"{") + (block.count(b"[") if b"[" in block else 0)
    if brackets - lines > MAX_EXTRA_BRACKETS:
        raise NotFast("deep nesting")  # pyarrow.json recurses per level: 20,000 levels crash it
    _ensure_utf8(block)
    return block, lines


def _parse_block(block: bytes, lines: int, text_keys: list[str]) -> pa.Table:
    """One block, ``text_keys`` read as strings; a key Arrow reads as timestamps (it infers them
    from strings) is read again as a string: the record reader keeps the text."""
    if not block:
        return pa.table({})
    table = _parse(block, lines, text_keys)
    stamped = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    if stamped:
        order = table.schema.names
        table = _parse(block, lines, text_keys + stamped)
        table = table.select(order)  # the order of first appearance, not the explicit schema's
    return table


def _parse(block: bytes, lines: int, text_keys: list[str]) -> pa.Table:
    schema = pa.schema([(k, pa.string()) for k in text_keys])
    try:
        table = pajson.read_json(
            pa.BufferReader(block),
            read_options=pajson.ReadOptions(use_threads=True, block_size=_ARROW_BLOCK),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        )
    except pa.ArrowInvalid as exc:  # a type change, a duplicate key, bad syntax: the slow path decides
        raise NotFast(str(exc)) from exc
    if table.num_rows != lines:
        raise NotFast("not one object per line")
    return table


def _ensure_utf8(block: bytes) -> None:
    # Arrow's JSON parser does not validate UTF-8 inside strings; Python's decoder refuses bad bytes
    # (decoding is ten times faster than Arrow's validation of one long value).
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotFast("invalid UTF-8") from exc


def _risky_keys(table: pa.Table, non_finite: bool) -> list[str]:
    """Keys whose values Python reads differently from Arrow should the key end up a float64 column.

    An integer past 2**53 (Python's pyarrow refuses it as a float; past 2**63 Python keeps it as JSON
    text, Arrow reads a double), "-0" (Python's int 0, Arrow's -0.0), NaN and Infinity (Arrow also
    reads "-NaN"; ``non_finite``: the block holds one of those words). A double that is only alike
    (-0.0, 1e300) is a harmless false alarm.
    """
    risky = []
    for name, column in zip(table.schema.names, table.columns, strict=True):
        numeric = pa.types.is_int64(column.type) or pa.types.is_float64(column.type)
        if not numeric or column.null_count == len(column):
            continue
        low, high = (v.as_py() for v in pc.min_max(column).values())  # NaN is skipped
        if max(-low, high) >= EXACT_INT:  # also true of inf; 2**53 itself is exact, a harmless alarm
            risky.append(name)
        elif pa.types.is_float64(column.type) and (
            (non_finite and pc.any(pc.is_nan(column)).as_py())
            or (low <= 0 <= high and pc.any(pc.equal(pc.divide(1.0, column), float("-inf"))).as_py())
        ):  # 1 / -0.0 is -inf (so is 1 / a negative subnormal)
            risky.append(name)
    return risky


def _kind_of(arrow_type: pa.DataType) -> str:
    """The record reader's ``_kind`` of the values Arrow inferred as ``arrow_type``."""
    if pa.types.is_null(arrow_type):
        return "null"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_int64(arrow_type):
        return "int"
    if pa.types.is_float64(arrow_type):
        return "float"
    if pa.types.is_string(arrow_type) or pa.types.is_timestamp(arrow_type):
        return "str"  # Arrow infers timestamps from strings; an explicit string type keeps the text
    raise NotFast(f"a nested value ({arrow_type})")  # its JSON text is json.dumps's, not Arrow's

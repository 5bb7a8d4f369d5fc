"""NDJSON through pyarrow.json, block by block: JsonSource's fast path.

It is used only when it gives exactly what the record-by-record reader (``json_reader._records``)
would: the same keys in the same order, the same types and the same values. Any feature it cannot
reproduce raises ``NotFast`` during the first pass, before a batch is yielded, and the caller reads
the file record by record instead (which also produces the exact error a bad file deserves). What
sends a file there is listed in docs/SCHEMA_DRIFT.md ("Reading files").
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

BLOCK_BYTES = 4 << 20
"""A block is cut at a line end; a line longer than a block is read record by record."""

# A number Python reads differently from Arrow when it lands in a float64 column: an integer of 16
# digits or more (past 2**53 Python's pyarrow refuses it as a float, past 2**63 it is JSON text) and
# "-0" (Python's int 0, Arrow's -0.0). Inside a string it is a harmless false alarm.
_RISKY_NUMBER = r"[\[:,\s](-0|-?[0-9]{16,})[\],}\s]"
# Python accepts NaN and Infinity, Arrow also "-NaN": neither is worth reproducing.
_NON_FINITE = r"NaN|Infinity"


class NotFast(Exception):
    """The file has a feature the columnar path cannot reproduce exactly: read it record by record."""


def scan_kinds(path: Path, encoding: str | None, max_record_chars: int) -> dict[str, set[str]]:
    """Each key (in order of first appearance) and the JSON value kinds it holds, as ``_kind`` names."""
    kinds: dict[str, set[str]] = {}
    risky = False
    for block in iter_blocks(path, encoding, max_record_chars):
        table = _parse(block, None)
        for field in table.schema:
            kinds.setdefault(field.name, set()).add(_kind_of(field.type))
        risky = risky or _matches(block, _RISKY_NUMBER)
    for key, held in kinds.items():
        if len(held - {"null"} - {"int", "float"}) > 1 or (held & {"int", "float"} and held & {"bool", "str"}):
            # Kinds that change between blocks make the column JSON text: 1 -> "1", true -> "true".
            raise NotFast(f"key {key!r} holds {sorted(held)}")
    if not kinds:  # the record reader's batches of objects without keys have no rows: keep that
        raise NotFast("no keys")
    if risky and any("float" in k for k in kinds.values()):
        raise NotFast("an integer of 16+ digits or a -0 in a file with a float column")
    return kinds


def read_tables(
    path: Path, encoding: str | None, max_record_chars: int, schema: pa.Schema
) -> Iterator[pa.Table]:
    """The blocks of a file ``scan_kinds`` accepted, typed by ``schema`` (the file's keys)."""
    for block in iter_blocks(path, encoding, max_record_chars):
        yield _parse(block, schema)


def iter_blocks(path: Path, encoding: str | None, max_record_chars: int) -> Iterator[bytes]:
    """UTF-8 blocks of whole lines, one JSON object per line, blank lines dropped, "\\n" line ends."""
    if encoding not in (None, "utf-8"):
        raise NotFast(f"encoding {encoding}")  # Python decodes it; Arrow reads UTF-8 only
    # Every line of a block is at most two chunks long: within the record limit by construction.
    chunk_bytes = min(BLOCK_BYTES, max_record_chars // 2)
    if chunk_bytes < 1:
        raise NotFast("a record limit under 2 characters")
    with path.open("rb") as fh:
        head = fh.read(len(codecs.BOM_UTF8))
        if head == codecs.BOM_UTF8:
            head = b""  # utf-8-sig, as the record reader decodes it
        while chunk := fh.read(chunk_bytes):
            data = head + chunk
            cut = data.rfind(b"\n") + 1
            head = data[cut:]
            if len(head) > chunk_bytes:
                raise NotFast("a line longer than a block")
            if cut:
                yield _ensure_one_object_per_line(data[:cut])
        if head:
            yield _ensure_one_object_per_line(head + b"\n")


def _ensure_one_object_per_line(block: bytes) -> bytes:
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
    if lines and not (
        block.startswith(b"{") and block.count(b"}\n") == lines and block.count(b"\n{") == lines - 1
    ):
        raise NotFast("a line that is not exactly one {...}")
    return block


def _parse(block: bytes, schema: pa.Schema | None) -> pa.Table:
    if not block:
        return pa.table({}) if schema is None else schema.empty_table()
    _ensure_utf8(block)
    if _matches(block, _NON_FINITE):
        raise NotFast("NaN or Infinity")
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error") if schema else None
    try:
        table = pajson.read_json(
            io.BytesIO(block),
            read_options=pajson.ReadOptions(use_threads=False, block_size=max(len(block), 1 << 16)),
            parse_options=parse,
        )
    except pa.ArrowInvalid as exc:  # a type change, a duplicate key, bad syntax: the slow path decides
        raise NotFast(str(exc)) from exc
    if table.num_rows != block.count(b"\n"):
        raise NotFast("not one object per line")
    return table


def _as_string_array(block: bytes) -> pa.Array:
    offsets = pa.py_buffer(pa.array([0, len(block)], pa.int64()).buffers()[1])
    return pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(block))


def _ensure_utf8(block: bytes) -> None:
    # Arrow's JSON parser does not validate UTF-8 inside strings; Python's decoder refuses bad bytes.
    try:
        _as_string_array(block).validate(full=True)
    except pa.ArrowInvalid as exc:
        raise NotFast("invalid UTF-8") from exc


def _matches(block: bytes, pattern: str) -> bool:
    return bool(pc.match_substring_regex(_as_string_array(block), pattern)[0].as_py())


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

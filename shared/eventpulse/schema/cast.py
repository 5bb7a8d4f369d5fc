"""Vectorised casting of record batches to a logical schema (pure).

Text rules are shared with inference, so a value that made a column ``integer`` always casts to an
integer. Values that do not fit become null and are reported (row indexes and samples), never guessed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.schema.model import LogicalType, TableSchema

ARROW_TYPES: dict[LogicalType, pa.DataType] = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),  # naive, meaning UTC
    "string": pa.string(),
    "null": pa.string(),
}

# Text shapes (RE2 syntax). Leading zeros ("07316") are not integers: they are codes.
INTEGER_TEXT = r"^[+-]?(?:0|[1-9]\d{0,17})$"
# More than 18 digits and no point/exponent: an identifier that float64 would corrupt, so text.
NUMBER_TEXT = r"^[+-]?(?:(?:0|[1-9]\d*)\.\d*|\.\d+|0|[1-9]\d{0,17})(?:[eE][+-]?\d{1,3})?$"
BOOLEAN_TEXT = r"^(?i:true|false)$"
# A whole number, possibly with a zero fraction ("1999.0"): casts to an integer without loss.
WHOLE_TEXT = r"^[+-]?(?:0|[1-9]\d{0,17})(?:\.0*)?$"
DATE_TEXT = r"^\d{4}-\d{2}-\d{2}$"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
DATETIME_TEXT = rf"^\d{{4}}-\d{{2}}-\d{{2}}(?:{_TIME}{_ZONE}?)?$"
_ZONED_TEXT = rf"{_TIME}{_ZONE}$"
# Casting text to integer accepts a zero fraction ("12.0", written by many exporters), and leading
# zeros: once the accepted schema says integer, "007" is the number 7.
_INTEGER_CAST_TEXT = r"^[+-]?\d{1,18}(?:\.0*)?$"
_NUMBER_CAST_TEXT = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?$"
_MAX_SAMPLES = 5
_MAX_EXACT_FLOAT = 2.0**53


@dataclass
class CastResult:
    batch: pa.RecordBatch
    failures: dict[str, pa.Array] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)


def matches(values: pa.Array, pattern: str) -> pa.Array:
    """Boolean array: which values fully match ``pattern`` (null stays null)."""
    return pc.match_substring_regex(values, pattern)


def parse_datetime_text(values: pa.Array) -> pa.Array:
    """ISO 8601 text → naive UTC timestamp[us]; values that are not valid datetimes become null."""
    try:  # fast path: every value is a naive ISO datetime (Arrow parses only ISO 8601 shapes)
        return pc.cast(values, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = pc.fill_null(matches(values, DATETIME_TEXT), False)
    zoned = pc.fill_null(pc.match_substring_regex(values, _ZONED_TEXT), False)
    naive_text = pc.if_else(pc.and_(ok, pc.invert(zoned)), values, pa.scalar(None, pa.string()))
    zoned_text = pc.if_else(zoned, values, pa.scalar(None, pa.string()))
    try:
        naive = pc.cast(naive_text, pa.timestamp("us"))
        aware = pc.cast(zoned_text, pa.timestamp("us", tz="UTC")).view(pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A value has the right shape but is not a calendar date ("2024-02-30"): rare, so slow is fine.
        return pa.array(
            [_parse_one_datetime(v) for v in pc.if_else(ok, values, None).to_pylist()], pa.timestamp("us")
        )
    return pc.if_else(zoned, aware, naive)


def parse_date_text(values: pa.Array) -> pa.Array:
    """``YYYY-MM-DD`` text → date32; anything else becomes null."""
    try:  # fast path: Arrow's date parser accepts exactly YYYY-MM-DD
        return pc.cast(values, pa.date32())
    except pa.ArrowInvalid:
        pass
    text = pc.if_else(pc.fill_null(matches(values, DATE_TEXT), False), values, pa.scalar(None, pa.string()))
    try:
        return pc.cast(text, pa.date32())
    except pa.ArrowInvalid:
        return pa.array([_parse_one_date(v) for v in text.to_pylist()], pa.date32())


def _parse_one_datetime(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _parse_one_date(text: str | None) -> dt.date | None:
    try:
        return None if text is None else dt.date.fromisoformat(text)
    except ValueError:
        return None


def _where(mask: pa.Array, values: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(mask, False), values, pa.scalar(None, values.type))


def _text_to(values: pa.Array, logical: LogicalType) -> pa.Array:
    if logical == "integer":
        text = _where(matches(values, _INTEGER_CAST_TEXT), values)
        return pc.cast(pc.replace_substring_regex(text, r"\.0*$", ""), pa.int64())
    if logical == "number":
        return pc.cast(_where(matches(values, _NUMBER_CAST_TEXT), values), pa.float64())
    if logical == "boolean":
        lowered = pc.utf8_lower(_where(matches(values, BOOLEAN_TEXT), values))
        return pc.equal(lowered, "true")
    if logical == "date":
        return _text_to_date(values)
    if logical == "datetime":
        return parse_datetime_text(values)
    return values


def _text_to_date(values: pa.Array) -> pa.Array:
    """``YYYY-MM-DD``, or a datetime at midnight UTC (``2020-10-28 00:00:00``, as Excel exports dates)."""
    dates = parse_date_text(values)
    rest = pc.and_(pc.is_valid(values), pc.is_null(dates))
    if not pc.any(rest).as_py():
        return dates
    stamps = parse_datetime_text(pc.if_else(rest, values, pa.scalar(None, pa.string())))
    return pc.coalesce(dates, _timestamp_to_date(stamps))


def _float_to_integer(values: pa.Array) -> pa.Array:
    whole = pc.and_(pc.equal(pc.floor(values), values), pc.less_equal(pc.abs(values), _MAX_EXACT_FLOAT))
    return pc.cast(_where(whole, values), pa.int64())


def _timestamp_to_naive_utc(values: pa.Array) -> pa.Array:
    if values.type.tz is not None:
        values = pc.cast(values, pa.timestamp("us", tz="UTC")).view(pa.timestamp("us"))
    return pc.cast(values, pa.timestamp("us"))


def _timestamp_to_date(values: pa.Array) -> pa.Array:
    naive = _timestamp_to_naive_utc(values)
    midnight = pc.equal(pc.floor_temporal(naive, unit="day"), naive)
    return pc.cast(_where(midnight, naive), pa.date32())


def convert_array(values: pa.Array, logical: LogicalType) -> pa.Array:
    """Convert ``values`` to the arrow type of ``logical``; values that do not fit become null."""
    target = ARROW_TYPES[logical]
    kind = values.type
    if pa.types.is_dictionary(kind):
        values, kind = values.dictionary_decode(), kind.value_type
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        values, kind = pc.cast(values, pa.string()), pa.string()
    if kind == target:
        return values
    if pa.types.is_null(kind):
        return pa.nulls(len(values), target)
    if pa.types.is_string(kind):
        return _text_to(values, logical)
    if logical == "string":
        return _any_to_string(values)
    if logical == "integer" and pa.types.is_floating(kind):
        return _float_to_integer(values)
    if logical == "integer" and pa.types.is_decimal(kind):
        return _float_to_integer(pc.cast(values, pa.float64()))
    if logical in ("integer", "number") and (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    ):
        return pc.cast(values, target, safe=False)
    if logical == "datetime" and pa.types.is_timestamp(kind):
        return _timestamp_to_naive_utc(values)
    if logical == "datetime" and pa.types.is_date(kind):
        return pc.cast(pc.cast(values, pa.date32()), target)
    if logical == "date" and pa.types.is_timestamp(kind):
        return _timestamp_to_date(values)
    if logical == "date" and pa.types.is_date(kind):
        return pc.cast(values, target)
    # boolean ↔ numbers, dates ↔ numbers...: incompatible, every non-null value fails
    return pa.nulls(len(values), target)


def _any_to_string(values: pa.Array) -> pa.Array:
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())


def cast_batch(batch: pa.RecordBatch, target: TableSchema) -> CastResult:
    """Return ``batch`` with exactly the columns of ``target``, typed per ARROW_TYPES, and the failures."""
    arrays: list[pa.Array] = []
    result = CastResult(batch=batch)
    present = set(batch.schema.names)
    for col in target:
        logical_type = ARROW_TYPES[col.type]
        if col.name not in present:
            arrays.append(pa.nulls(batch.num_rows, logical_type))
            continue
        source = batch.column(col.name)
        converted = convert_array(source, col.type)
        failed = pc.and_(pc.is_valid(source), pc.is_null(converted))
        if pc.any(failed).as_py():
            rows = pc.cast(pc.indices_nonzero(failed), pa.int64())
            result.failures[col.name] = rows
            result.samples[col.name] = _samples(source, rows)
        arrays.append(converted)
    result.batch = pa.RecordBatch.from_arrays(
        arrays, schema=pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in target])
    )
    return result


def _samples(source: pa.Array, rows: pa.Array) -> list[str]:
    picked = source.take(rows.slice(0, _MAX_SAMPLES)).to_pylist()
    return [v if isinstance(v, str) else str(v) for v in picked]

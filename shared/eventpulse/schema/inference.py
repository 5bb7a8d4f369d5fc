"""Conservative, streaming logical-type inference over record batches (pure).

Each batch gives every column a type; batches are joined on a small lattice (null < anything,
integer < number, date < datetime, anything mixed → string). A text column is only typed when every
non-null value has that shape, so the composition of one batch never invents drift. Each column also
records ``fits``: the narrower types its values cast to without loss (text midnight datetimes fit
``date``, Parquet strings of digits fit ``integer``), so a known type can claim them without drift.
The rules are written down in docs/SCHEMA_DRIFT.md, sections "Inference" and "Lossless casts".
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.parse.formats import FileFormat
from eventpulse.schema.cast import (
    BOOLEAN_TEXT,
    DATE_TEXT,
    DATETIME_TEXT,
    INTEGER_TEXT,
    NUMBER_TEXT,
    WHOLE_TEXT,
    matches,
    parse_date_text,
    parse_datetime_text,
)
from eventpulse.schema.drift import is_subtype
from eventpulse.schema.model import Column, LogicalType, TableSchema

_PROBE_ROWS = 1000  # a cheap first guess on a few values; the guess is then checked on the whole batch
_MAX_EXACT_FLOAT = 2.0**53
_JOINS: dict[frozenset[LogicalType], LogicalType] = {
    frozenset(("integer", "number")): "number",
    frozenset(("date", "datetime")): "datetime",
}
# The types the values of one inferred type always cast to without loss (cast.py's rules: text
# "true" does not cast to a number, so boolean reaches only string).
_REACH: dict[LogicalType, frozenset[LogicalType]] = {
    "boolean": frozenset(("boolean", "string")),
    "integer": frozenset(("integer", "number", "string")),
    "number": frozenset(("number", "string")),
    "date": frozenset(("date", "datetime", "string")),
    "datetime": frozenset(("datetime", "string")),
    "string": frozenset(("string",)),
}
_ONLY_STRING: frozenset[LogicalType] = frozenset(("string",))

Classified = tuple[LogicalType, frozenset[LogicalType]]
"""A batch's type, and every type its values cast to without loss (the type itself included)."""


def join_inferred(a: LogicalType, b: LogicalType) -> LogicalType:
    """The type of a column whose values were seen as ``a`` in one place and ``b`` in another."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    return _JOINS.get(frozenset((a, b)), "string")


class SchemaInferrer:
    """Feed record batches, then read the inferred TableSchema (columns in first-seen order).

    Args:
        text_typed: string columns hold typed values written as text (CSV, JSON, NDJSON): apply the
            text rules to them. When False (XLSX, Parquet) a string column is a string column.
        whole_floats_are_integers: a float column whose values are all whole numbers is ``integer``
            (XLSX: Excel has no integer cells).
        midnight_datetimes_are_dates: a timestamp column whose values are all at midnight is
            ``date`` (XLSX: Excel has no date-only cells; a date cell reads as a midnight datetime).
    """

    def __init__(
        self,
        *,
        text_typed: bool,
        whole_floats_are_integers: bool = False,
        midnight_datetimes_are_dates: bool = False,
    ) -> None:
        self.text_typed = text_typed
        self.whole_floats_are_integers = whole_floats_are_integers
        self.midnight_datetimes_are_dates = midnight_datetimes_are_dates
        self._types: dict[str, LogicalType] = {}
        self._reach: dict[str, frozenset[LogicalType]] = {}  # absent: no non-null value seen yet
        self._nulls: dict[str, bool] = {}
        self._rows = 0

    @classmethod
    def for_format(cls, fmt: FileFormat) -> SchemaInferrer:
        """The inferrer with the rules of one file format."""
        return cls(
            text_typed=fmt in ("csv", "json", "ndjson"),
            whole_floats_are_integers=fmt == "xlsx",
            midnight_datetimes_are_dates=fmt == "xlsx",
        )

    def feed(self, batch: pa.RecordBatch) -> None:
        self._rows += batch.num_rows
        for name, values in zip(batch.schema.names, batch.columns, strict=True):
            known = self._types.get(name, "null")
            self._nulls[name] = self._nulls.get(name, False) or values.null_count > 0
            if known == "string" and self._reach.get(name) == _ONLY_STRING:
                continue  # string absorbs everything and nothing narrower fits: no need to look again
            kind, reach = self._classify(values)
            self._types[name] = join_inferred(known, kind)
            if kind != "null":
                self._reach[name] = self._reach.get(name, reach) & reach

    @property
    def rows(self) -> int:
        """Rows fed so far."""
        return self._rows

    def result(self) -> TableSchema:
        # With no rows at all there is no evidence that a column is always filled.
        return TableSchema.of(
            Column(name, kind, self._nulls[name] or self._rows == 0, self._fits(name, kind))
            for name, kind in self._types.items()
        )

    def _fits(self, name: str, kind: LogicalType) -> frozenset[LogicalType]:
        """The reachable types the lattice does not already grant: those narrower than ``kind``."""
        reach = self._reach.get(name, frozenset())
        return frozenset(t for t in reach if not is_subtype(kind, t))

    def _classify(self, values: pa.Array) -> Classified:
        kind = values.type
        if pa.types.is_dictionary(kind):
            values, kind = values.dictionary_decode(), kind.value_type
        if values.null_count == len(values) or pa.types.is_null(kind):
            return "null", frozenset()
        present = values.drop_null()
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            text_kind, reach = classify_text_reach(present)
            # XLSX and Parquet text stays string, but what it fits is recorded (see module docstring).
            return (text_kind, reach) if self.text_typed else ("string", reach)
        if pa.types.is_boolean(kind):
            return "boolean", _REACH["boolean"]
        if pa.types.is_integer(kind):
            return "integer", _REACH["integer"]
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            if not is_whole(present):
                return "number", _REACH["number"]
            return ("integer" if self.whole_floats_are_integers else "number"), _REACH["integer"]
        if pa.types.is_timestamp(kind):
            if not is_midnight(present):
                return "datetime", _REACH["datetime"]
            # Parquet keeps its declared timestamp type; XLSX has no date-only cells.
            return ("date" if self.midnight_datetimes_are_dates else "datetime"), _REACH["date"]
        if pa.types.is_date(kind):
            return "date", _REACH["date"]
        return "string", _ONLY_STRING


def is_whole(values: pa.Array) -> bool:
    """True when every value is a whole number that float64 holds exactly."""
    floats = pc.cast(values, pa.float64())
    whole = pc.and_(pc.equal(pc.floor(floats), floats), pc.less_equal(pc.abs(floats), _MAX_EXACT_FLOAT))
    return bool(pc.all(whole).as_py())


def is_midnight(values: pa.Array) -> bool:
    """True when every timestamp falls exactly on midnight UTC (the time part is zero)."""
    if values.type.tz is not None:  # Arrow floors zoned values in local time; cast.py works in UTC
        values = values.view(pa.timestamp(values.type.unit))
    day_start = pc.floor_temporal(values, unit="day")
    return bool(pc.all(pc.equal(day_start, values)).as_py())


def _all(values: pa.Array, pattern: str) -> bool:
    return bool(pc.all(matches(values, pattern)).as_py())


def _guess_text(values: pa.Array) -> LogicalType:
    """First guess from the shape of a few values; it only decides which full check runs first."""
    if _all(values, INTEGER_TEXT):
        return "integer"
    if _all(values, NUMBER_TEXT):
        return "number"
    if _all(values, BOOLEAN_TEXT):
        return "boolean"
    if _all(values, DATETIME_TEXT):
        return "date" if _all(values, DATE_TEXT) else "datetime"
    return "string"


def classify_text(values: pa.Array) -> LogicalType:
    """Logical type of non-null text values: typed only when every value has that shape."""
    return classify_text_reach(values)[0]


def classify_text_reach(values: pa.Array) -> Classified:
    """Logical type of non-null text values, and every type they cast to without loss."""
    guess = _guess_text(values.slice(0, _PROBE_ROWS))
    if guess in ("integer", "number"):
        if guess == "integer" and _all(values, INTEGER_TEXT):
            return "integer", _REACH["integer"]
        if not _all(values, NUMBER_TEXT):
            return "string", _ONLY_STRING
        # "1999.0" (pandas writes integers with gaps so) is a whole number: it fits an integer column.
        whole = _all(values.slice(0, _PROBE_ROWS), WHOLE_TEXT) and _all(values, WHOLE_TEXT)
        return "number", _REACH["integer"] if whole else _REACH["number"]
    if guess == "boolean":
        return ("boolean", _REACH["boolean"]) if _all(values, BOOLEAN_TEXT) else ("string", _ONLY_STRING)
    if guess == "date" and parse_date_text(values).null_count == 0:
        return "date", _REACH["date"]
    if guess in ("date", "datetime"):
        stamps = parse_datetime_text(values)
        if stamps.null_count == 0:
            # "2020-10-28 00:00:00" (Excel and pandas write dates so) fits a date column.
            return "datetime", _REACH["date"] if is_midnight(stamps) else _REACH["datetime"]
    return "string", _ONLY_STRING

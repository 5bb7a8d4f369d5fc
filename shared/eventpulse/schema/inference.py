"""Conservative, streaming logical-type inference over record batches (pure).

Each batch gives every column a type; batches are joined on a small lattice (null < anything,
integer < number, date < datetime, anything mixed → string). A text column is only typed when every
non-null value has that shape, so the composition of one batch never invents drift. The rules are
written down in docs/SCHEMA_DRIFT.md, section "Inference".
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
    matches,
    parse_date_text,
    parse_datetime_text,
)
from eventpulse.schema.model import Column, LogicalType, TableSchema

_PROBE_ROWS = 1000  # a cheap first guess on a few values; the guess is then checked on the whole batch
_MAX_EXACT_FLOAT = 2.0**53
_JOINS: dict[frozenset[LogicalType], LogicalType] = {
    frozenset(("integer", "number")): "number",
    frozenset(("date", "datetime")): "datetime",
}


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
            if known == "string":
                self._types[name] = "string"  # string absorbs everything: no need to look again
                continue
            self._types[name] = join_inferred(known, self._classify(values))

    def result(self) -> TableSchema:
        # With no rows at all there is no evidence that a column is always filled.
        return TableSchema.of(
            Column(name, kind, self._nulls[name] or self._rows == 0) for name, kind in self._types.items()
        )

    def _classify(self, values: pa.Array) -> LogicalType:
        kind = values.type
        if pa.types.is_dictionary(kind):
            values, kind = values.dictionary_decode(), kind.value_type
        if values.null_count == len(values) or pa.types.is_null(kind):
            return "null"
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            return classify_text(values.drop_null()) if self.text_typed else "string"
        if pa.types.is_boolean(kind):
            return "boolean"
        if pa.types.is_integer(kind):
            return "integer"
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            if self.whole_floats_are_integers and is_whole(values.drop_null()):
                return "integer"
            return "number"
        if pa.types.is_timestamp(kind):
            if self.midnight_datetimes_are_dates and is_midnight(values.drop_null()):
                return "date"
            return "datetime"  # Parquet and JSON keep their declared timestamp type
        if pa.types.is_date(kind):
            return "date"
        return "string"


def is_whole(values: pa.Array) -> bool:
    """True when every value is a whole number that float64 holds exactly."""
    floats = pc.cast(values, pa.float64())
    whole = pc.and_(pc.equal(pc.floor(floats), floats), pc.less_equal(pc.abs(floats), _MAX_EXACT_FLOAT))
    return bool(pc.all(whole).as_py())


def is_midnight(values: pa.Array) -> bool:
    """True when every timestamp falls exactly on midnight (the time part is zero)."""
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
    guess = _guess_text(values.slice(0, _PROBE_ROWS))
    if guess in ("integer", "number"):
        if guess == "integer" and _all(values, INTEGER_TEXT):
            return "integer"
        return "number" if _all(values, NUMBER_TEXT) else "string"
    if guess == "boolean":
        return "boolean" if _all(values, BOOLEAN_TEXT) else "string"
    if guess == "date" and parse_date_text(values).null_count == 0:
        return "date"
    if guess in ("date", "datetime") and parse_datetime_text(values).null_count == 0:
        return "datetime"
    return "string"

"""Great Expectations' verdicts computed with pyarrow: the compiled engine of the quality gate.

Each expectation of a supported type and options is evaluated as vectorized checks over the Arrow
batches the gate receives, and answers in the shape of GX's own result dict (``element_count``,
``missing_count``, ``unexpected_count``, ``partial_unexpected_index_list`` ...), so the gate merges
and reports it exactly as a GX outcome. Anything else (another type, another kwarg such as
``row_condition``, bounds GX would refuse) is not compiled and runs through GX as before.

GX's semantics reproduced here, each checked against GX by ``tests/unit/test_gate_compiled_differential.py``:

- Missing values are nulls and, in float columns, NaN (pandas' ``isna``). Row checks other than
  ``not_be_null`` skip them; their percentages are over the non-missing count; ``not_be_null``
  counts them as unexpected over every row. ``mostly``: (non-missing - unexpected) / non-missing
  >= mostly, and a check with nothing to look at succeeds.
- Regex: GX pandas runs ``Series.str.contains``, which in pandas 3 gives Python ``re.search``'s
  answers where it knows RE2 differs (``$`` also matches before a final newline, ``\\d`` and ``\\w``
  are Unicode, ``\\s`` includes ``\\x1c``-``\\x1f``; lookaround) and runs RE2 otherwise. Compiled:
  a pattern made only of constructs on which RE2 and Python agree for ASCII text runs through
  pyarrow's RE2 on the ASCII values without a newline and Python ``re.search`` on the others; a
  pattern pandas always gives to Python (lookaround, back-references, ``\\s``) is matched with Python
  for every value. Any other pattern (inline flags, ``a{,3}``, POSIX classes, ``\\Z``, ...) is left to
  GX, where pandas' RE2 reads it otherwise than Python would (``regex_compiles``).
- Between: ``>=``/``<=``, or ``>``/``<`` under ``strict_min``/``strict_max``; ±inf are values like
  any other. On ``date``/``datetime`` columns ISO string bounds are datetimes (as ``gx_runner``
  passes them to GX); a bound with a zone on a naive column is left to GX (which raises).
- Uniqueness: every row of a repeated value fails (``duplicated(keep=False)``); the single-column
  check skips missing values, the compound one skips only rows whose every column is missing and
  treats missing values as equal (``0.0`` and ``-0.0`` are one value, as in pandas).
- Value lengths: Python's ``len`` (code points), as ``astype(str).str.len()``; integer bounds only.
- Aggregates: the mean and sum are pandas' (the sum of the values with missing ones as 0; the mean
  divides it by the non-missing count); a NaN or empty mean, min or max fails; an empty sum is 0;
  the min, max and sum of an integer column with a null are floats (pandas holds it as float64);
  the proportion of non-null values of no rows is 0.

Not compiled (GX runs them): every other type (``expect_column_values_to_be_of_type``, medians,
quantiles, ...), ``row_condition`` and any other kwarg not listed in ``_ROW_KWARGS``,
``_COLUMN_KWARGS`` and ``_TABLE_KWARGS``, and bounds GX refuses or would compare differently (min
above max, a zoned bound on a naive column, a value set of mixed types).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.contracts.model import Contract, Expectation

SOURCE_ROW = "_source_row"
ENGINES = ("compiled", "gx")
"""The values of ``EVENTPULSE_GATE_ENGINE``: ``compiled`` (default) compiles what it can; ``gx`` never."""


class NotCompiled(Exception):
    """This data does not fit the compiled check (a column is absent or of another type): ask GX."""


_NUMERIC = ("integer", "number")
_TEMPORAL = ("date", "datetime")
_BETWEEN_KWARGS = frozenset({"column", "min_value", "max_value", "strict_min", "strict_max"})

_ROW_KWARGS: dict[str, frozenset[str]] = {
    "expect_column_values_to_not_be_null": frozenset({"column", "mostly"}),
    "expect_column_values_to_be_between": _BETWEEN_KWARGS | {"mostly"},
    "expect_column_values_to_match_regex": frozenset({"column", "regex", "mostly"}),
    "expect_column_values_to_be_in_set": frozenset({"column", "value_set", "mostly"}),
    "expect_column_value_lengths_to_be_between": _BETWEEN_KWARGS | {"mostly"},
    "expect_column_pair_values_a_to_be_greater_than_b": frozenset(
        {"column_A", "column_B", "or_equal", "ignore_row_if", "mostly"}
    ),
}
_IGNORE_ROW_IF = ("both_values_are_missing", "either_value_is_missing", "neither")
_COLUMN_KWARGS: dict[str, frozenset[str]] = {
    "expect_column_values_to_be_unique": frozenset({"column", "mostly"}),
    "expect_compound_columns_to_be_unique": frozenset({"column_list", "mostly"}),
    "expect_column_mean_to_be_between": _BETWEEN_KWARGS,
    "expect_column_min_to_be_between": _BETWEEN_KWARGS,
    "expect_column_max_to_be_between": _BETWEEN_KWARGS,
    "expect_column_sum_to_be_between": _BETWEEN_KWARGS,
    "expect_column_proportion_of_non_null_values_to_be_between": _BETWEEN_KWARGS,
}
_TABLE_KWARGS: dict[str, frozenset[str]] = {
    "expect_table_row_count_to_be_between": frozenset({"min_value", "max_value"}),
}
COMPILED_TYPES = frozenset({*_ROW_KWARGS, *_COLUMN_KWARGS, *_TABLE_KWARGS})


_COMPILES: dict[tuple[str, str, int], bool] = {}


def compiles(contract: Contract, index: int) -> bool:
    """True when the expectation at ``index`` is evaluated here rather than by GX."""
    key = (contract.dataset, contract.version, index)
    found = _COMPILES.get(key)
    if found is None:
        found = _COMPILES[key] = _compiles(contract, index)
    return found


def _compiles(contract: Contract, index: int) -> bool:
    exp = contract.expectations[index]
    allowed = {**_ROW_KWARGS, **_COLUMN_KWARGS, **_TABLE_KWARGS}.get(exp.type)
    if allowed is None or set(exp.kwargs) - allowed:
        return False
    mostly = exp.kwargs.get("mostly", 1)
    if isinstance(mostly, bool) or not isinstance(mostly, int | float) or not 0 <= mostly <= 1:
        return False
    if exp.type in _TABLE_KWARGS:
        return _bounds(exp, None) is not None
    if exp.type == "expect_column_pair_values_a_to_be_greater_than_b":
        kinds = (
            _declared(contract, exp.kwargs.get("column_A")),
            _declared(contract, exp.kwargs.get("column_B")),
        )
        comparable = all(k in _NUMERIC for k in kinds) or all(k in _TEMPORAL for k in kinds)
        return (
            comparable
            and isinstance(exp.kwargs.get("or_equal", False), bool | None)
            and exp.kwargs.get("ignore_row_if", "both_values_are_missing") in _IGNORE_ROW_IF
        )
    if exp.type == "expect_compound_columns_to_be_unique":
        columns = exp.kwargs.get("column_list")
        return isinstance(columns, list) and bool(columns) and all(_declared(contract, c) for c in columns)
    column = exp.kwargs.get("column")
    kind = _declared(contract, column)
    if kind is None:
        return False
    if exp.type == "expect_column_values_to_match_regex":
        return kind == "string" and regex_compiles(exp.kwargs.get("regex"))
    if exp.type == "expect_column_values_to_be_in_set":
        return _value_set(kind, exp.kwargs.get("value_set")) is not None
    if exp.type == "expect_column_values_to_be_between":
        return (kind in _NUMERIC or kind in _TEMPORAL) and _bounds(exp, kind) is not None
    if exp.type == "expect_column_value_lengths_to_be_between":
        bounds = _bounds(exp, None)
        return kind == "string" and bounds is not None and all(isinstance(b, int | None) for b in bounds[:2])
    if exp.type in ("expect_column_mean_to_be_between", "expect_column_sum_to_be_between"):
        return kind in _NUMERIC and _bounds(exp, None) is not None
    if exp.type in ("expect_column_min_to_be_between", "expect_column_max_to_be_between"):
        return kind in _NUMERIC and _bounds(exp, None) is not None
    if exp.type == "expect_column_proportion_of_non_null_values_to_be_between":
        return _bounds(exp, None) is not None
    return exp.type in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_unique")


def _declared(contract: Contract, column: Any) -> str | None:
    if not isinstance(column, str):
        return None
    declared = contract.schema.get(column)
    return declared.type if declared is not None else None


# ---------------------------------------------------------------------------------------------
# Row checks: one batch at a time


def row_outcome(
    contract: Contract, index: int, batch: pa.RecordBatch, *, partial: int, every_row: bool
) -> Any:
    """The GxOutcome of the row check at ``index`` on ``batch`` (raises NotCompiled)."""
    from eventpulse.quality.gx_runner import GxOutcome

    exp = contract.expectations[index]
    if exp.type == "expect_column_pair_values_a_to_be_greater_than_b":
        return _pair_outcome(contract, index, batch, partial=partial, every_row=every_row)
    column = str(exp.kwargs["column"])
    values = _column(batch, column, contract)
    missing = _missing(values)
    missing_count = _true_count(missing)
    if exp.type == "expect_column_values_to_not_be_null":
        unexpected, unexpected_count, missing_count = missing, missing_count, 0
    else:
        passed = pc.fill_null(_row_condition(contract, exp, values, index), False)
        # with no missing value every row is judged: one kernel fewer on the common path
        unexpected = pc.and_not(pc.invert(missing), passed) if missing_count else pc.invert(passed)
        unexpected_count = _true_count(unexpected)
    return GxOutcome(
        index=index,
        success=not unexpected_count,
        result=_map_result(
            batch,
            [column],
            unexpected,
            missing_count,
            partial=partial,
            every_row=every_row,
            values=[values],
            count=unexpected_count,
        ),
        exception=None,
    )


def _pair_outcome(
    contract: Contract, index: int, batch: pa.RecordBatch, *, partial: int, every_row: bool
) -> Any:
    """A > B (>= with ``or_equal``); ``ignore_row_if`` rows are GX's missing ones, the others judged."""
    from eventpulse.quality.gx_runner import GxOutcome

    exp = contract.expectations[index]
    names = [str(exp.kwargs["column_A"]), str(exp.kwargs["column_B"])]
    a, b = (_column(batch, name, contract) for name in names)
    missing_a, missing_b = _missing(a), _missing(b)
    ignore = exp.kwargs.get("ignore_row_if", "both_values_are_missing")
    ignored = (
        pc.and_(missing_a, missing_b)
        if ignore == "both_values_are_missing"
        else pc.or_(missing_a, missing_b)
        if ignore == "either_value_is_missing"
        else None
    )
    kinds = [_declared(contract, name) for name in names]
    left, right = (_comparable(v, str(k)) for v, k in zip((a, b), kinds, strict=True))
    compare = pc.greater_equal if exp.kwargs.get("or_equal") else pc.greater
    passed = pc.fill_null(compare(left, right), False)
    unexpected = pc.invert(passed) if ignored is None else pc.and_not(pc.invert(ignored), passed)
    count = _true_count(unexpected)
    result = _map_result(
        batch,
        names,
        unexpected,
        _true_count(ignored),
        partial=partial,
        every_row=every_row,
        values=[a, b],
        count=count,
    )
    return GxOutcome(index=index, success=not count, result=result, exception=None)


_PREPARED: dict[tuple[str, str, int], Any] = {}


def _prepared(contract: Contract, exp: Expectation, kind: str | None, index: int) -> Any:
    """The bounds or value set of a row check, converted once per contract version."""
    key = (contract.dataset, contract.version, index)
    if key not in _PREPARED:
        if exp.type in ("expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between"):
            bounds = _bounds(exp, kind)
            assert bounds is not None  # compiles() checked it
            _PREPARED[key] = bounds
        else:
            wanted = _value_set(str(kind), exp.kwargs["value_set"])
            _PREPARED[key] = pa.array(wanted, _ARROW_OF[str(kind)])
    return _PREPARED[key]


_ARROW_OF = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64()}


def _row_condition(contract: Contract, exp: Expectation, values: pa.Array, index: int) -> pa.Array:
    kind = _declared(contract, str(exp.kwargs["column"]))
    if exp.type == "expect_column_values_to_be_between":
        return _between(_comparable(values, str(kind)), *_prepared(contract, exp, kind, index))
    if exp.type == "expect_column_value_lengths_to_be_between":  # Python's len: code points
        return _between(pc.utf8_length(values), *_prepared(contract, exp, None, index))
    if exp.type == "expect_column_values_to_be_in_set":
        wanted = _prepared(contract, exp, kind, index)
        if pa.types.is_floating(values.type):
            values = pc.add(values, 0.0)  # -0.0 is 0.0, as in pandas' isin
        if wanted.type != values.type:
            wanted = wanted.cast(values.type)
        return pc.is_in(values, value_set=wanted)
    return _regex_matches(values, str(exp.kwargs["regex"]))


def _map_result(
    table: pa.RecordBatch | pa.Table,
    columns: Sequence[str],
    unexpected: pa.Array,
    missing_count: int,
    *,
    partial: int,
    every_row: bool,
    values: Sequence[pa.Array],
    count: int | None = None,
) -> dict[str, Any]:
    rows = table.num_rows
    count = _true_count(unexpected) if count is None else count
    considered = rows - missing_count
    where = np.flatnonzero(_to_bool_numpy(unexpected)) if count else np.empty(0, dtype=np.int64)
    source = table.column(SOURCE_ROW)
    result: dict[str, Any] = {
        "element_count": rows,
        "missing_count": missing_count,
        "unexpected_count": count,
        "unexpected_percent": count / considered * 100 if considered else None,  # GX's order
        "partial_unexpected_index_list": _entries(source, columns, values, where[:partial]),
    }
    if every_row:
        result["unexpected_index_list"] = _entries(source, columns, values, where)
    return result


def _entries(
    source: Any, columns: Sequence[str], values: Sequence[pa.Array], where: np.ndarray
) -> list[dict[str, Any]]:
    if not len(where):
        return []
    taken = pa.array(where, pa.int64())
    rows = pc.take(source, taken).to_pylist()
    picked = [[_sample(v) for v in pc.take(a, taken).to_pylist()] for a in values]
    return [
        {SOURCE_ROW: row, **{name: col[i] for name, col in zip(columns, picked, strict=True)}}
        for i, row in enumerate(rows)
    ]


def _sample(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None  # GX's sample of a NaN, once made plain
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)  # dates reach GX as datetime64
    return value


# ---------------------------------------------------------------------------------------------
# Whole-column checks: once, at the end


def column_outcome(contract: Contract, index: int, table: pa.Table, *, partial: int) -> Any:
    """The GxOutcome of the ``columns`` check at ``index`` on ``table`` (raises NotCompiled)."""
    from eventpulse.quality.gx_runner import GxOutcome

    exp = contract.expectations[index]
    if exp.type == "expect_column_values_to_be_unique":
        result, considered = _unique(contract, table, [str(exp.kwargs["column"])], partial, skip_any=True)
        return GxOutcome(index, _mostly(exp, considered, result["unexpected_count"]), result, None)
    if exp.type == "expect_compound_columns_to_be_unique":
        names = [str(c) for c in exp.kwargs["column_list"]]
        result, considered = _unique(contract, table, names, partial, skip_any=False)
        return GxOutcome(index, _mostly(exp, considered, result["unexpected_count"]), result, None)
    column = str(exp.kwargs["column"])
    values = _column(table, column, contract)
    return bounded_aggregate_outcome(contract, index, _aggregate(exp.type, values))


def bounded_aggregate_outcome(contract: Contract, index: int, observed: float | int | None) -> Any:
    """The GxOutcome of the aggregate check at ``index`` once its ``observed`` value is known.

    ``quality/bounded.py`` computes the proportion of non-null values from running counts.
    """
    from eventpulse.quality.gx_runner import GxOutcome

    bounds = _bounds(contract.expectations[index], None)
    assert bounds is not None
    ok = observed is not None and bool(_between(pa.array([observed], pa.float64()), *bounds)[0].as_py())
    return GxOutcome(index, ok, {"observed_value": observed}, None)


def _aggregate(kind: str, values: pa.ChunkedArray | pa.Array) -> float | int | None:
    rows = len(values)
    missing = _missing(values)
    present = rows - _true_count(missing)
    if kind == "expect_column_proportion_of_non_null_values_to_be_between":
        return present / rows if rows else 0
    # pandas holds an integer column with a null as float64: its min, max and sum are floats then
    exact_ints = pa.types.is_integer(values.type) and not values.null_count
    if kind == "expect_column_sum_to_be_between" and exact_ints:
        return int(pc.sum(values).as_py() or 0)
    if not present:
        return 0.0 if kind == "expect_column_sum_to_be_between" else None  # pandas: an empty sum is 0
    if kind in ("expect_column_min_to_be_between", "expect_column_max_to_be_between"):
        kept = pc.filter(values, pc.invert(missing))
        found = (pc.min(kept) if kind == "expect_column_min_to_be_between" else pc.max(kept)).as_py()
        return found if exact_ints else float(found)
    filled = _float_numpy(values, missing)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in pandas
        total = float(filled.sum())
    if kind == "expect_column_mean_to_be_between":
        mean = total / present
        return None if math.isnan(mean) else mean
    return None if math.isnan(total) else total


def _float_numpy(values: pa.ChunkedArray | pa.Array, missing: pa.Array) -> np.ndarray:
    as_float = pc.cast(values, pa.float64())
    return np.asarray(pc.if_else(missing, 0.0, as_float).to_numpy(zero_copy_only=False), dtype=np.float64)


def _unique(
    contract: Contract, table: pa.Table, names: Sequence[str], partial: int, *, skip_any: bool
) -> tuple[dict[str, Any], int]:
    rows = table.num_rows
    columns = [_column(table, name, contract) for name in names]
    arrow_missings = [_missing(c) for c in columns]
    missings = [_to_bool_numpy(m) for m in arrow_missings]
    skipped = np.logical_or.reduce(missings) if skip_any else np.logical_and.reduce(missings)
    # One int64 code per row: the columns' dictionary indices in mixed radix (null: 0), renumbered by
    # hashing (not sorting) before the radix could overflow, and once at the end.
    codes = np.zeros(rows, dtype=np.int64)
    space = 1
    for values, missing in zip(columns, arrow_missings, strict=True):
        indices, size = _encoded(_canonical(values, missing))
        radix = size + 1
        if space * radix >= 2**62:
            codes, space = _dense(codes)
        codes = codes * radix + indices + 1
        space *= radix
    if len(names) > 1:
        codes, space = _dense(codes)
    repeated = np.zeros(rows, dtype=bool)
    kept = ~skipped
    if kept.any():
        counts = np.bincount(codes[kept])
        repeated[kept] = counts[codes[kept]] > 1
    considered = int(kept.sum())
    missing_count = rows - considered
    result = _map_result(
        table,
        list(names),
        pa.array(repeated),
        missing_count,
        partial=partial,
        every_row=False,
        values=columns,
    )
    return result, considered


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes renumbered 0..k-1 by a hash pass (first-seen order), and k."""
    encoded = pc.dictionary_encode(pa.array(codes, pa.int64()))
    return np.asarray(encoded.indices.to_numpy(), dtype=np.int64), len(encoded.dictionary)


def _encoded(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int]:
    """Dictionary indices (null: -1) of every row, and the dictionary's size.

    On a chunked array the hash pass keeps one dictionary for all chunks (and is several times faster
    than on the same values combined into one array: no copy of a million strings).
    """
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        if not encoded.num_chunks:
            return np.empty(0, dtype=np.int64), 0
        size = len(encoded.chunks[-1].dictionary)
        indices: Any = pa.chunked_array([c.indices for c in encoded.chunks], encoded.type.index_type)
    else:
        size, indices = len(encoded.dictionary), encoded.indices
    return np.asarray(indices.fill_null(-1).to_numpy(), dtype=np.int64), size


def _canonical(values: pa.ChunkedArray | pa.Array, missing: Any) -> Any:
    if pa.types.is_floating(values.type):
        values = pc.add(values, 0.0)  # -0.0 and 0.0 are one value
    elif not values.null_count:
        return values  # nothing missing (NaN exists only in floats)
    return pc.if_else(missing, pa.scalar(None, values.type), values)


def _mostly(exp: Expectation, considered: int, unexpected: int) -> bool:
    mostly = float(exp.kwargs.get("mostly", 1))
    if mostly >= 1:
        return unexpected == 0
    return considered == 0 or (considered - unexpected) / considered >= mostly


def table_outcome(contract: Contract, index: int, rows: int) -> Any:
    """The GxOutcome of the row-count check at ``index`` for ``rows`` rows."""
    from eventpulse.quality.gx_runner import GxOutcome

    bounds = _bounds(contract.expectations[index], None)
    assert bounds is not None
    ok = bool(_between(pa.array([rows], pa.int64()), *bounds)[0].as_py())
    return GxOutcome(index, ok, {"observed_value": rows}, None)


# ---------------------------------------------------------------------------------------------
# Shared pieces


_ARROW_CHECKS: dict[str, Callable[[pa.DataType], bool]] = {
    "integer": pa.types.is_integer,
    "number": pa.types.is_floating,
    "string": pa.types.is_string,
    "date": pa.types.is_date32,
    "datetime": lambda t: pa.types.is_timestamp(t) and t.tz is None,
    "boolean": pa.types.is_boolean,
}
"""The Arrow types the compiled checks expect of each declared type (``schema/cast.py`` makes them)."""


def _column(table: pa.RecordBatch | pa.Table, name: str, contract: Contract) -> Any:
    if name not in table.schema.names:
        raise NotCompiled(f"column {name!r} is not in the data")
    values = table.column(name)
    kind = _declared(contract, name)
    expected = _ARROW_CHECKS.get(kind or "")
    if expected is None or not expected(values.type):
        raise NotCompiled(f"column {name!r} is {values.type}, not the declared {kind}")
    return values


def _missing(values: Any) -> Any:
    """Null, or NaN in a float column (pandas' isna)."""
    if pa.types.is_floating(values.type):
        nan = pc.is_nan(values)
        return pc.or_(pc.is_null(values), pc.fill_null(nan, False)) if values.null_count else nan
    return pc.is_null(values)


def _true_count(mask: Any) -> int:
    if mask is None:
        return 0
    if isinstance(mask, pa.ChunkedArray):
        return sum(_true_count(chunk) for chunk in mask.chunks)
    return int(mask.true_count) if not mask.null_count else int(pc.sum(mask).as_py() or 0)


def _to_bool_numpy(mask: Any) -> np.ndarray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


Bounds = tuple[Any, Any, bool, bool]


def _bounds(exp: Expectation, kind: str | None) -> Bounds | None:
    """(min, max, strict_min, strict_max) as comparable scalars, or None when GX should judge."""
    low, high = exp.kwargs.get("min_value"), exp.kwargs.get("max_value")
    strict_min, strict_max = exp.kwargs.get("strict_min", False), exp.kwargs.get("strict_max", False)
    if not isinstance(strict_min, bool) or not isinstance(strict_max, bool):
        return None
    if low is None and high is None:
        return None
    convert: Callable[[Any], Any] = _temporal_bound if kind in _TEMPORAL else _number_bound
    parsed = [None if v is None else convert(v) for v in (low, high)]
    if any(p is _REFUSED for p in parsed):
        return None
    if parsed[0] is not None and parsed[1] is not None and parsed[0] > parsed[1]:
        return None  # GX raises "min_value cannot be greater than max_value"
    return parsed[0], parsed[1], strict_min, strict_max


_REFUSED = object()


def _number_bound(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _REFUSED
    if isinstance(value, float) and math.isnan(value):
        return _REFUSED
    return value


def _temporal_bound(value: Any) -> Any:
    if not isinstance(value, str):
        return _REFUSED
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return _REFUSED
    return _REFUSED if parsed.tzinfo is not None else parsed


def _comparable(values: Any, kind: str) -> Any:
    if kind == "date":
        return pc.cast(values, pa.timestamp("us"))
    return values


def _between(values: Any, low: Any, high: Any, strict_min: bool, strict_max: bool) -> Any:
    def scalar(bound: Any) -> pa.Scalar:
        if isinstance(bound, dt.datetime):
            return pa.scalar(bound, pa.timestamp("us"))
        return pa.scalar(
            float(bound) if isinstance(bound, float) or pa.types.is_floating(values.type) else bound
        )

    checks = []
    if low is not None:
        checks.append((pc.greater if strict_min else pc.greater_equal)(values, scalar(low)))
    if high is not None:
        checks.append((pc.less if strict_max else pc.less_equal)(values, scalar(high)))
    return checks[0] if len(checks) == 1 else pc.and_(checks[0], checks[1])


def _value_set(kind: str, value_set: Any) -> list[Any] | None:
    if not isinstance(value_set, list) or not value_set:
        return None
    if kind == "string" and all(isinstance(v, str) for v in value_set):
        return value_set
    if kind == "integer" and all(isinstance(v, int) and not isinstance(v, bool) for v in value_set):
        return value_set
    if kind == "number" and all(
        isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v) for v in value_set
    ):
        return [float(v) for v in value_set]
    return None


# ---------------------------------------------------------------------------------------------
# Regex: Python's answers, through RE2 where the two provably agree


def _python_regex(regex: Any) -> re.Pattern[str] | None:
    if not isinstance(regex, str):
        return None
    try:
        return re.compile(regex)
    except re.error:
        return None  # GX reports the error


_RE2_READS_OTHERWISE = ("{,", "[:", "[=", "[.")
"""Text Python and RE2 parse differently: ``a{,3}`` is a repeat in Python 3.11 and literal text in RE2;
``[[:alpha:]]`` a POSIX class in RE2 and a set of characters in Python."""
_SAFE_CATEGORIES = frozenset({"CATEGORY_DIGIT", "CATEGORY_NOT_DIGIT", "CATEGORY_WORD", "CATEGORY_NOT_WORD"})
_SAFE_AT = frozenset({"AT_BEGINNING", "AT_END", "AT_BOUNDARY", "AT_NON_BOUNDARY"})


def re2_agrees(regex: str) -> bool:
    """True when RE2 and Python ``re.search`` give the same answer on ASCII text without a newline.

    Only literals, ``.``, classes of literals, ranges and ``\\d``/``\\w`` (ASCII text: the same
    characters in both), groups without flags, alternation, repeats, ``^``, ``$``, ``\\b`` and ``\\B``.
    ``\\s`` is refused (Python's includes ``\\x1c``-``\\x1f``), as is every flag, lookaround and
    back-reference; such patterns are matched with Python alone.
    """
    parsed = _parsed(regex)
    return parsed is not None and _safe_items(parsed, python_only=False)


def regex_compiles(regex: Any) -> bool:
    """True when the compiled engine gives GX's answers for this pattern (else GX runs it).

    GX on pandas 3 matches through pandas' ``str.contains``, which itself runs RE2 unless the pattern
    needs Python (lookaround, back-references, ``\\s``; ``\\w``/``\\d``/``\\b`` on non-ASCII data,
    ``$`` with a newline present). So: patterns of RE2-safe constructs (``re2_agrees``: RE2 where the
    dialects agree, Python for the other values), and patterns pandas always sends to Python (Python
    for every value). Inline flags, ``a{,3}``, POSIX classes and the rest are left to GX: there pandas
    runs RE2, whose reading differs from Python's or which refuses the pattern.
    """
    if not isinstance(regex, str) or _python_regex(regex) is None:
        return False
    parsed = _parsed(regex)
    return parsed is not None and _safe_items(parsed, python_only=True)


def _parsed(regex: str) -> list[Any] | None:
    from re import _parser  # type: ignore[attr-defined]

    if any(text in regex for text in _RE2_READS_OTHERWISE):
        return None
    try:
        parsed = _parser.parse(regex)
    except re.error:
        return None
    if parsed.state.flags & ~re.UNICODE:
        return None
    return list(parsed)


_PYTHON_ONLY_CATEGORIES = frozenset({"CATEGORY_SPACE", "CATEGORY_NOT_SPACE"})


def _safe_items(items: Sequence[Any], *, python_only: bool) -> bool:
    """Every construct RE2-safe; with ``python_only``, also those pandas always matches with Python."""
    categories = _SAFE_CATEGORIES | (_PYTHON_ONLY_CATEGORIES if python_only else frozenset())
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "ANY"):
            continue
        if name == "IN":
            if not all(
                str(o) in ("LITERAL", "RANGE", "NEGATE") or (str(o) == "CATEGORY" and str(a) in categories)
                for o, a in arg
            ):
                return False
        elif name == "CATEGORY":
            if str(arg) not in categories:
                return False
        elif python_only and name in ("ASSERT", "ASSERT_NOT"):
            if not _safe_items(list(arg[1]), python_only=True):
                return False
        elif python_only and name == "GROUPREF":
            continue
        elif name == "AT":
            if str(arg) not in _SAFE_AT:
                return False
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            if not _safe_items(list(arg[2]), python_only=python_only):
                return False
        elif name == "SUBPATTERN":
            _group, add_flags, del_flags, body = arg
            if add_flags or del_flags or not _safe_items(list(body), python_only=python_only):
                return False
        elif name == "BRANCH":
            if not all(_safe_items(list(b), python_only=python_only) for b in arg[1]):
                return False
        else:
            return False
    return True


_REGEX_CACHE: dict[str, tuple[re.Pattern[str], bool]] = {}


def _regex_matches(values: pa.Array, regex: str) -> pa.Array:
    if regex not in _REGEX_CACHE:
        pattern = _python_regex(regex)
        assert pattern is not None
        _REGEX_CACHE[regex] = (pattern, re2_agrees(regex))
    pattern, fast = _REGEX_CACHE[regex]
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not fast:
        return _python_matches(values, pattern, None)
    try:
        matched = pc.match_substring_regex(values, regex)
    except pa.ArrowInvalid:  # RE2 refused the pattern: Python alone
        return _python_matches(values, pattern, None)
    if _plain_ascii(values):
        return matched  # no byte outside ASCII and no newline anywhere: RE2's answers are Python's
    # values where the two dialects may differ: any character outside ASCII, or a newline
    suspect = pc.match_substring_regex(values, "[^\\x00-\\x09\\x0b-\\x7f]")
    if values.null_count:
        suspect = pc.fill_null(suspect, False)
    if not suspect.true_count:
        return matched
    return _python_matches(values, pattern, (suspect, matched))


def _plain_ascii(values: pa.Array) -> bool:
    """True when the array's character data holds no byte >= 0x80 and no newline (one numpy pass)."""
    _validity, offsets, data = values.buffers()[:3]
    if data is None or not len(values):
        return True
    bounds = np.frombuffer(offsets, dtype=np.int32, count=2, offset=4 * values.offset)
    end = np.frombuffer(offsets, dtype=np.int32, count=1, offset=4 * (values.offset + len(values)))
    raw = np.frombuffer(data, dtype=np.uint8)[int(bounds[0]) : int(end[0])]  # this slice's bytes only
    return not (raw >= 0x80).any() and not (raw == 0x0A).any()


def _python_matches(values: pa.Array, pattern: re.Pattern[str], over: tuple[Any, Any] | None) -> pa.Array:
    if over is None:
        return pa.array(
            [None if v is None else pattern.search(v) is not None for v in values.to_pylist()], pa.bool_()
        )
    suspect, matched = over
    where = np.flatnonzero(_to_bool_numpy(suspect))
    found = np.asarray(_to_bool_numpy(matched)).copy()
    texts = pc.take(values, pa.array(where, pa.int64())).to_pylist()
    for position, text in zip(where, texts, strict=True):
        found[position] = pattern.search(text) is not None
    return pa.array(found)


def describe(engine_by_index: Mapping[int, str]) -> dict[str, int]:
    """How many expectations each engine ran (for logs and the benchmark)."""
    out: dict[str, int] = {}
    for engine in engine_by_index.values():
        out[engine] = out.get(engine, 0) + 1
    return out

"""The compiled gate engine against Great Expectations itself: the same report, expectation by expectation.

For each compiled expectation type, Hypothesis generates small files (nulls, NaN, ±inf, -0.0, unicode,
newlines, values on the bounds) split into two record batches, and the gate runs them once with
``engine="gx"`` and once with ``engine="compiled"``; success, counts, percentages, observed values,
failing rows and sample values must be equal. A hand-written case list pins the known edge cases.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpulse.contracts.loader import parse_contract
from eventpulse.contracts.model import Contract
from eventpulse.quality import bounded
from eventpulse.quality.compiled import COMPILED_TYPES, compiles, re2_agrees, regex_compiles
from eventpulse.quality.gate import QualityGate

pytest.importorskip("great_expectations")

NAN, INF = float("nan"), float("inf")
COLUMNS: dict[str, Any] = {
    "pk": {"type": "string", "nullable": False},
    "s": "string",
    "x": "number",
    "n": "integer",
    "ts": "datetime",
    "d": "date",
}
ARROW = {
    "s": pa.string(),
    "x": pa.float64(),
    "n": pa.int64(),
    "ts": pa.timestamp("us"),
    "d": pa.date32(),
}
KEY_CHECKS = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "pk"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "pk"}},
]

floats = st.one_of(
    st.none(),
    st.sampled_from([NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 90.0, -90.0, 6.0, 3.3, 5.0e-324]),
    st.floats(-200, 200, allow_nan=False),
)
ints = st.one_of(st.none(), st.sampled_from([-150, -151, 0, 1, 100]), st.integers(-300, 300))
texts = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "abc", "abc\n", "reading", "heartbeat", "é", "١٢٣", "a_b", "A1", " ", "\x1c", "\x0b", "ok", "C"]
    ),
    st.text(alphabet="aZ1_-./\né١ \x1c", max_size=6),
)
stamps = st.one_of(
    st.none(),
    st.sampled_from(
        [
            dt.datetime(2020, 1, 1),
            dt.datetime(2100, 1, 1),
            dt.datetime(1970, 1, 1),
            dt.datetime(2019, 12, 31, 23, 59, 59, 999999),
            dt.datetime(2100, 1, 1, 0, 0, 0, 1),
        ]
    ),
    st.datetimes(min_value=dt.datetime(1960, 1, 1), max_value=dt.datetime(2200, 1, 1)),
)
dates = st.one_of(
    st.none(),
    st.sampled_from([dt.date(2020, 1, 1), dt.date(2019, 12, 31)]),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 1, 1)),
)
VALUES = {"s": texts, "x": floats, "n": ints, "ts": stamps, "d": dates}


@st.composite
def files(draw: Any) -> tuple[dict[str, list[Any]], int]:
    rows = draw(st.integers(0, 45))
    data = {name: draw(st.lists(strategy, min_size=rows, max_size=rows)) for name, strategy in VALUES.items()}
    return data, draw(st.integers(0, rows))


def contract_of(expectations: list[dict[str, Any]]) -> Contract:
    doc = {
        "name": "diff",
        "meta": {"eventpulse": {"primary_key": ["pk"], "columns": COLUMNS}},
        "expectations": [*KEY_CHECKS, *expectations],
    }
    return parse_contract("diff", json.dumps(doc).encode())


def gate_report(
    contract: Contract, data: dict[str, list[Any]], split: int, engine: str, *, one_engine: bool = True
) -> list[dict[str, Any]]:
    rows = len(data["s"])
    arrays = {name: pa.array(values, ARROW[name]) for name, values in data.items()}
    arrays["pk"] = pa.array([f"k{i}" for i in range(rows)])
    arrays["_source_row"] = pa.array(range(1, rows + 1), pa.int64())
    table = pa.table(arrays)
    gate = QualityGate(contract, engine=engine)
    for batch in (table.slice(0, split), table.slice(split)):
        for piece in batch.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]:
            gate.feed(piece)
    out = []
    for result in gate.finish().results:
        body = result.to_dict()
        ran = body.pop("engine")
        assert ran == engine or not one_engine, body
        out.append(body)
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) in (int, float) and type(b) in (int, float) and a == b or a == b


def assert_engines_agree(expectations: list[dict[str, Any]], data: dict[str, list[Any]], split: int) -> None:
    contract = contract_of(expectations)
    assert all(compiles(contract, i) for i in range(len(contract.expectations))), expectations
    reference = gate_report(contract, data, split, "gx")
    compiled = gate_report(contract, data, split, "compiled")
    for ours, theirs in zip(compiled, reference, strict=True):
        assert same(ours, theirs), f"compiled {ours}\n      gx {theirs}\n    data {data}"


def suite(kind: str, variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": kind, "kwargs": kwargs} for kwargs in variants]


TYPES: dict[str, list[dict[str, Any]]] = {
    "expect_column_values_to_not_be_null": [
        {"column": "s"},
        {"column": "x", "mostly": 0.5},
        {"column": "n", "mostly": 0.75},
        {"column": "ts"},
    ],
    "expect_column_values_to_be_between": [
        {"column": "x", "min_value": -90, "max_value": 90},
        {"column": "x", "min_value": 0, "strict_min": True},
        {"column": "x", "max_value": 6, "strict_max": True, "mostly": 0.5},
        {"column": "x", "min_value": -1.0, "max_value": 1.0, "strict_min": True, "strict_max": True},
        {"column": "n", "min_value": -150, "max_value": 0},
        {"column": "n", "min_value": 0, "mostly": 0.5},
        {"column": "ts", "min_value": "2020-01-01T00:00:00", "max_value": "2100-01-01T00:00:00"},
        {
            "column": "ts",
            "min_value": "2020-01-01",
            "strict_min": True,
            "strict_max": True,
            "max_value": "2100-01-01",
        },
        {"column": "d", "min_value": "2020-01-01"},
        {"column": "d", "max_value": "2020-01-01T12:00:00", "strict_max": True},
    ],
    "expect_column_values_to_match_regex": [
        {"column": "s", "regex": "^[a-z][a-z0-9_]*$"},
        {"column": "s", "regex": "^abc$"},
        {"column": "s", "regex": "\\d"},
        {"column": "s", "regex": "^\\w+$", "mostly": 0.5},
        {"column": "s", "regex": "\\s"},
        {"column": "s", "regex": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"},
        {"column": "s", "regex": "a(?=b)|é"},
        {"column": "s", "regex": ""},
        {"column": "s", "regex": "(a)\\1|\\s$"},
    ],
    "expect_column_values_to_be_in_set": [
        {"column": "s", "value_set": ["reading", "heartbeat", "", "é"]},
        {"column": "s", "value_set": ["ok", "C", "abc\n"], "mostly": 0.5},
        {"column": "x", "value_set": [0, 1.0, 90, 6.0]},
        {"column": "n", "value_set": [-150, 0, 1]},
    ],
    "expect_table_row_count_to_be_between": [
        {"min_value": 1},
        {"min_value": 0, "max_value": 10},
        {"max_value": 20},
    ],
    "expect_column_values_to_be_unique": [
        {"column": "s"},
        {"column": "x", "mostly": 0.5},
        {"column": "n"},
        {"column": "ts"},
        {"column": "d", "mostly": 0.8},
    ],
    "expect_compound_columns_to_be_unique": [
        {"column_list": ["s", "n"]},
        {"column_list": ["x", "d"], "mostly": 0.5},
        {"column_list": ["s", "x", "ts"]},
    ],
    "expect_column_mean_to_be_between": [
        {"column": "x", "min_value": 3.3},
        {"column": "x", "min_value": -10, "max_value": 10, "strict_min": True},
        {"column": "n", "max_value": 0, "strict_max": True},
        {"column": "n", "min_value": -300, "max_value": 300},
    ],
    "expect_column_pair_values_a_to_be_greater_than_b": [
        {"column_A": "x", "column_B": "n"},
        {"column_A": "n", "column_B": "x", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        {"column_A": "x", "column_B": "n", "ignore_row_if": "neither", "mostly": 0.5},
        {"column_A": "ts", "column_B": "d", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        {"column_A": "d", "column_B": "ts"},
    ],
    "expect_column_value_lengths_to_be_between": [
        {"column": "s", "min_value": 1, "max_value": 3},
        {"column": "s", "min_value": 0, "strict_min": True, "mostly": 0.5},
        {"column": "s", "max_value": 5, "strict_max": True},
    ],
    "expect_column_min_to_be_between": [
        {"column": "x", "min_value": -90},
        {"column": "n", "min_value": -150, "max_value": 0, "strict_max": True},
    ],
    "expect_column_max_to_be_between": [
        {"column": "x", "max_value": 90, "strict_max": True},
        {"column": "n", "min_value": 0, "max_value": 300},
    ],
    "expect_column_sum_to_be_between": [
        {"column": "x", "min_value": 0},
        {"column": "n", "min_value": -1000, "max_value": 1000, "strict_min": True},
    ],
    "expect_column_proportion_of_non_null_values_to_be_between": [
        {"column": "x", "min_value": 0.5},
        {"column": "s", "min_value": 0.25, "max_value": 0.75},
        {"column": "ts", "max_value": 0.5, "strict_max": True},
    ],
}


def test_every_compiled_type_has_a_differential_test() -> None:
    assert set(TYPES) == set(COMPILED_TYPES)


@pytest.mark.parametrize("kind", sorted(TYPES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(file=files())
def test_compiled_agrees_with_gx(kind: str, file: tuple[dict[str, list[Any]], int]) -> None:
    data, split = file
    assert_engines_agree(suite(kind, TYPES[kind]), data, split)


def column(values: list[Any], name: str, rows: int) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {k: [None] * rows for k in VALUES}
    data[name] = values
    return data


EDGE_CASES: list[tuple[str, dict[str, list[Any]]]] = [
    ("empty", column([], "x", 0)),
    ("all null", column([None] * 5, "x", 5)),
    ("all NaN", column([NAN] * 4, "x", 4)),
    ("±inf and NaN", column([INF, -INF, NAN, 1.0, None], "x", 5)),
    ("-0.0 and 0.0", column([-0.0, 0.0, 0.0], "x", 3)),
    ("bounds exactly", column([-90.0, 90.0, 0.0, 6.0, -1.0, 1.0], "x", 6)),
    ("mostly exactly half", column([1.0, 2.0, 7.0, -5.0], "x", 4)),
    ("unicode and newlines", column(["abc\n", "é", "١٢٣", "\x1c", "A", "", "\x0b", "a\nb"], "s", 8)),
    ("timestamps on the bounds", column([dt.datetime(2020, 1, 1), dt.datetime(2100, 1, 1), None], "ts", 3)),
    ("dates on the bound", column([dt.date(2020, 1, 1), dt.date(2019, 12, 31)], "d", 2)),
    ("ints with nulls", column([0, None, -150, -151, 1], "n", 5)),
    ("many failures", column([1000.0] * 30, "x", 30)),
]


@pytest.mark.parametrize("kind", sorted(TYPES))
@pytest.mark.parametrize(("name", "data"), EDGE_CASES, ids=[n for n, _ in EDGE_CASES])
def test_known_edge_cases(kind: str, name: str, data: dict[str, list[Any]]) -> None:
    rows = len(data["s"])
    assert_engines_agree(suite(kind, TYPES[kind]), data, rows // 2)


def test_regex_dialect_choice() -> None:
    """RE2 only where it agrees with Python for ASCII text without a newline; Python otherwise."""
    assert re2_agrees("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    assert re2_agrees("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}$")
    assert re2_agrees("^\\d+(?:\\.\\d+)?$")
    assert not re2_agrees("\\s")  # Python's \s includes \x1c-\x1f
    assert not re2_agrees("(?i)abc")  # flags: Python folds Unicode case
    assert not re2_agrees("a(?=b)")  # lookahead: not RE2
    assert not re2_agrees("(a)\\1")  # back-reference: not RE2
    assert not re2_agrees("^a{,2}$")  # a repeat in Python, literal text in RE2
    assert not re2_agrees("[[:alpha:]]")  # a POSIX class in RE2, a set of characters in Python
    # What the compiled engine takes: RE2-safe patterns, and those pandas always gives to Python
    assert regex_compiles("^[a-z][a-z0-9_]*$") and regex_compiles("a(?=b)") and regex_compiles("\\s")
    # What it leaves to GX, where pandas runs RE2 and RE2 reads or refuses them otherwise
    for pattern in ("(?i)abc", "^a{,2}$", "[[:alpha:]]", "(?x) a", "abc\\Z", "("):
        assert not regex_compiles(pattern), pattern


def test_unsupported_options_run_through_gx() -> None:
    contract = contract_of(
        [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "x",
                    "min_value": 0,
                    "row_condition": "n>0",
                    "condition_parser": "pandas",
                },
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "s", "row_condition": "n>0", "condition_parser": "pandas"},
            },
            {"type": "expect_column_median_to_be_between", "kwargs": {"column": "x", "min_value": 0}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "x", "min_value": 5, "max_value": 1},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "ts", "min_value": "2020-01-01T00:00:00+02:00"},
            },
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "n", "value_set": [1.5]}},
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "s", "regex": "("}},
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "s", "regex": "^a{,2}$"}},
        ]
    )
    gate = QualityGate(contract)
    assert [gate.engines[i] for i in range(2, len(contract.expectations))] == ["gx"] * 8
    data = column([1.0, -1.0], "x", 2)
    mixed = gate_report(contract, data, 1, "compiled", one_engine=False)
    assert mixed == gate_report(contract, data, 1, "gx")
    assert len(mixed) == len(contract.expectations)


UNIQUE_KINDS = ["expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"]


@pytest.mark.parametrize("kind", UNIQUE_KINDS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(file=files())
def test_uniqueness_agrees_with_gx_when_hashes_collide(
    kind: str, file: tuple[dict[str, list[Any]], int]
) -> None:
    """A weak key hash (4 values) makes distinct keys collide: the exact re-check must still agree."""
    data, split = file
    weak = bounded.hash_values
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bounded, "hash_values", lambda values: weak(values) % np.uint64(4))
        assert_engines_agree(suite(kind, TYPES[kind]), data, split)

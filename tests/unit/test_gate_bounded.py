"""The bounded whole-file checks of the compiled gate (quality/bounded.py): same answers, less memory.

Each case feeds a file in several batches to the gate and compares its result with the whole-column
evaluation the gate used before (``compiled.column_outcome`` on the complete table, still the code
of the fallback), and checks what the gate holds per row. Pure logic: no database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from eventpulse.contracts.loader import parse_contract
from eventpulse.contracts.model import Contract
from eventpulse.quality import bounded, compiled
from eventpulse.quality.gate import ExpectationResult, QualityGate

COLUMNS = {
    "id": {"type": "string", "nullable": False},
    "pk": "string",
    "a": "string",
    "x": "number",
    "n": "integer",
}
ARROW = {"id": pa.string(), "pk": pa.string(), "a": pa.string(), "x": pa.float64(), "n": pa.int64()}
UNIQUE = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "pk"}}
COMPOUND = {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "n"]}}
PROPORTION = {
    "type": "expect_column_proportion_of_non_null_values_to_be_between",
    "kwargs": {"column": "x", "min_value": 0.5},
}
SUITE = [UNIQUE, COMPOUND, PROPORTION]
KEY_CHECKS = [  # the contract's own key, "id", never repeats
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
]


def contract_of(expectations: list[dict[str, Any]]) -> Contract:
    doc = {
        "name": "bounded",
        "meta": {"eventpulse": {"primary_key": ["id"], "columns": COLUMNS}},
        "expectations": [*expectations, *KEY_CHECKS],
    }
    return parse_contract("bounded", json.dumps(doc).encode())


def table_of(data: dict[str, list[Any]]) -> pa.Table:
    rows = len(data["pk"])
    arrays = {name: pa.array(values, ARROW[name]) for name, values in data.items()}
    arrays["id"] = pa.array([f"i{i}" for i in range(rows)], pa.string())
    arrays["_source_row"] = pa.array(range(1, rows + 1), pa.int64())
    return pa.table(arrays)


def fed(contract: Contract, table: pa.Table, batch_rows: int, **options: Any) -> QualityGate:
    gate = QualityGate(contract, **options)
    batches = table.to_batches(max_chunksize=batch_rows) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    for batch in batches:
        gate.feed(batch)
    return gate


def before(contract: Contract, table: pa.Table, index: int, partial: int = 20) -> dict[str, Any]:
    """What the gate answered before: the compiled check over the whole column, as one table."""
    outcome = compiled.column_outcome(contract, index, table, partial=partial)
    rows = [e["_source_row"] for e in outcome.result.get("partial_unexpected_index_list", [])]
    return {
        "success": outcome.success,
        "observed_value": outcome.result.get("observed_value"),
        "unexpected_count": int(outcome.result.get("unexpected_count") or 0),
        "unexpected_percent": outcome.result.get("unexpected_percent"),
        "failing_rows": rows[:partial],
        "samples": [
            next(iter(v.values())) if len(v) == 1 else v
            for v in (
                {k: x for k, x in e.items() if k != "_source_row"}
                for e in outcome.result.get("partial_unexpected_index_list", [])
            )
        ][:partial],
    }


def now(result: ExpectationResult) -> dict[str, Any]:
    return {
        "success": result.success,
        "observed_value": result.observed_value,
        "unexpected_count": result.unexpected_count,
        "unexpected_percent": result.unexpected_percent,
        "failing_rows": result.failing_rows,
        "samples": result.sample_values,
    }


def assert_same_as_before(data: dict[str, list[Any]], batch_rows: int, **options: Any) -> list[Any]:
    contract = contract_of(SUITE)
    table = table_of(data)
    results = fed(contract, table, batch_rows, **options).finish().results
    for index, result in enumerate(results):
        assert result.engine == "compiled"
        if contract.expectations[index].stream_class == "columns":
            assert now(result) == before(contract, table, index), contract.expectations[index].type
    return results


def keys(*values: str | None) -> dict[str, list[Any]]:
    rows = len(values)
    return {
        "pk": list(values),
        "a": [f"a{i % 3}" if i % 4 else None for i in range(rows)],
        "x": [float(i) if i % 3 else None for i in range(rows)],
        "n": [i % 2 if i % 5 else None for i in range(rows)],
    }


def test_duplicates_in_different_batches_fail_with_every_row_named() -> None:
    data = keys("k0", "k1", "k2", "k3", "k1", "k5", "k6", "k0", "k8", "k1")
    results = assert_same_as_before(data, batch_rows=3)
    unique = results[0]
    assert not unique.success and unique.unexpected_count == 5
    assert unique.failing_rows == [1, 2, 5, 8, 10]
    assert unique.sample_values == ["k0", "k1", "k1", "k0", "k1"]
    assert unique.unexpected_percent == 50.0


@pytest.mark.parametrize(
    "hasher",
    [
        pytest.param(lambda v: np.zeros(len(v), dtype=np.uint64), id="every hash equal"),
        pytest.param(lambda v: bounded.hash_values(v) % np.uint64(2), id="two hashes"),
        pytest.param(lambda v: np.full(len(v), 2**64 - 1, dtype=np.uint64), id="the top partition"),
    ],
)
def test_hash_collisions_are_rechecked_on_the_real_values(hasher: Any) -> None:
    data = keys(*[f"k{i}" for i in range(40)], "k7", "k33")
    results = assert_same_as_before(data, batch_rows=7, hasher=hasher)
    assert results[0].unexpected_count == 4 and results[0].failing_rows == [8, 34, 41, 42]
    unique_only = assert_same_as_before(keys(*[f"k{i}" for i in range(30)]), batch_rows=4, hasher=hasher)
    assert unique_only[0].success and unique_only[0].unexpected_count == 0


def test_missing_keys_are_skipped_and_missing_parts_of_a_compound_key_are_equal() -> None:
    data = keys(None, "k1", None, "k1", "k4", None, "k6", "k7", None, "k9", "k10", "k11", "k12")
    results = assert_same_as_before(data, batch_rows=2)
    assert results[0].unexpected_count == 2 and results[0].unexpected_percent == 2 / 9 * 100
    assert not results[1].success  # ("a0", None) and (None, None) repeat: missing parts are equal


def test_an_empty_file() -> None:
    results = assert_same_as_before({"pk": [], "a": [], "x": [], "n": []}, batch_rows=5)
    assert results[0].success and results[0].unexpected_percent is None
    assert results[2].observed_value == 0 and not results[2].success


def test_all_duplicates() -> None:
    data = keys(*["same"] * 25)
    data["a"], data["n"], data["x"] = ["a"] * 25, [1] * 25, [None] * 25
    results = assert_same_as_before(data, batch_rows=4)
    assert results[0].unexpected_count == 25 and results[0].failing_rows == list(range(1, 21))
    assert results[1].unexpected_count == 25
    assert results[2].observed_value == 0.0 and not results[2].success


def test_mostly_is_judged_over_the_whole_file() -> None:
    suite = [UNIQUE, {**UNIQUE, "kwargs": {"column": "a", "mostly": 0.8}}]
    contract = contract_of(suite)
    data = keys(*[f"k{i}" for i in range(10)])
    data["a"] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "a"]
    table = table_of(data)
    result = fed(contract, table, 3).finish().results[1]
    assert result.success and result.unexpected_count == 2
    assert now(result) == before(contract, table, 1)


def test_the_gate_holds_a_hash_per_row_and_no_key_column(tmp_path: Path) -> None:
    contract = contract_of(SUITE)
    table = table_of(keys(*[f"k{i}" for i in range(50)]))
    gate = fed(contract, table, 8, spill_dir=tmp_path)
    assert gate._kept == {}  # no column in memory: the key is on disk
    assert bounded.bytes_per_row(gate._bounded) == 3 * bounded.HASH_BYTES_PER_ROW  # three unique checks
    assert gate._bounded is not None
    assert sum(h.nbytes for t in gate._bounded._unique.values() for h in t.hashes) == 3 * 8 * 50
    assert [p.suffix for p in tmp_path.iterdir()] == [".arrow"]
    gate.finish()
    assert list(tmp_path.iterdir()) == []  # the spill is removed at the end


def test_a_column_of_another_type_falls_back_to_the_kept_columns() -> None:
    """The key arrives as integers in the second batch: the gate keeps the columns as before."""
    contract = contract_of([UNIQUE])
    ids = pa.array(["i1", "i2"])
    first = pa.record_batch(
        {"id": ids, "pk": pa.array(["1", "2"]), "_source_row": pa.array([1, 2], pa.int64())}
    )
    second = pa.record_batch({"id": ids, "pk": pa.array([3, 1]), "_source_row": pa.array([3, 4], pa.int64())})
    gate = QualityGate(contract)
    gate.feed(first)
    assert gate._bounded is not None
    gate.feed(second)
    assert gate._bounded is None and [len(c) for c in gate._kept["pk"]] == [2, 2]


def test_repeated_hashes_across_partitions() -> None:
    parts = [np.array([5, 2**63 + 5, 9], dtype=np.uint64), np.array([2**63 + 5, 7, 9, 0, 0], dtype=np.uint64)]
    for partition_rows in (1, 2, 1 << 21):
        found = bounded.repeated_hashes(parts, partition_rows=partition_rows)
        assert sorted(found.tolist()) == [9, 2**63 + 5]  # 0 marks a skipped row, never a repeat


def test_the_default_hash_sees_every_byte_and_the_slice() -> None:
    values = pa.array(["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefgj", "é", "abcdefgh", None, "a"])
    hashes = bounded.hash_values(values)
    assert hashes[3] == hashes[7] and hashes[1] == hashes[9]
    assert len({int(h) for h in hashes[:7]}) == 7
    assert bounded.hash_values(values.slice(3, 5)).tolist() == hashes[3:8].tolist()
    floats = bounded.hash_values(pa.array([0.0, -0.0, 1.0]))
    assert floats[0] == floats[1] != floats[2]

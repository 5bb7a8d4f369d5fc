"""The streaming quality gate: merged results across batches, source rows, severities, cast failures."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from eventpulse.contracts.loader import parse_contract
from eventpulse.contracts.model import Contract

pytest.importorskip("great_expectations")

from eventpulse.quality.gate import CAST_FAILURE_TYPE, QualityGate  # noqa: E402


def build_contract() -> Contract:
    doc: dict[str, Any] = {
        "name": "orders",
        "meta": {
            "eventpulse": {
                "primary_key": ["id"],
                "columns": {
                    "id": {"type": "string", "nullable": False},
                    "amount": "number",
                    "placed": "date",
                },
            }
        },
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "amount", "min_value": 0},
                "meta": {"severity": "warning"},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "placed", "min_value": "2024-01-01"},
                "meta": {"severity": "info"},
            },
            {"type": "expect_column_max_to_be_between", "kwargs": {"column": "amount", "max_value": 1000}},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
            {
                "type": "expect_table_columns_to_match_set",
                "kwargs": {"column_set": ["id", "amount", "placed"]},
            },
        ],
    }
    return parse_contract("orders", json.dumps(doc).encode())


def batch(ids: list[str | None], amounts: list[float | None], first_row: int) -> pa.RecordBatch:
    n = len(ids)
    return pa.record_batch(
        {
            "id": pa.array(ids, pa.string()),
            "amount": pa.array(amounts, pa.float64()),
            "placed": pa.array([dt.date(2024, 5, 1)] * n, pa.date32()),
            "_source_row": pa.array(range(first_row, first_row + n), pa.int64()),
        }
    )


def result_of(report: Any, expectation_type: str) -> Any:
    return next(r for r in report.results if r.expectation_type == expectation_type)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return build_contract()


def test_clean_stream_passes(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a", "b"], [1.0, 2.0], 1))
    gate.feed(batch(["c"], [None], 3))
    report = gate.finish()
    assert report.passed and report.rows_evaluated == 3
    assert report.critical_failures == 0 and report.warnings == 0
    assert all(r.success for r in report.results), [r for r in report.results if not r.success]


def test_duplicate_key_across_two_batches_fails_with_both_source_rows(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a", "b", "c"], [1.0, 2.0, 3.0], 1))
    gate.feed(batch(["d", "b"], [4.0, 5.0], 101))  # rows 101-102: a later batch, non-contiguous rows
    report = gate.finish()
    unique = result_of(report, "expect_column_values_to_be_unique")
    assert not report.passed and report.critical_failures == 1
    assert not unique.success and unique.severity == "critical"
    assert unique.unexpected_count == 2
    assert sorted(unique.failing_rows) == [2, 102]
    assert unique.sample_values == ["b", "b"]


def test_row_failures_merge_counts_and_source_rows_across_batches(contract: Contract) -> None:
    gate = QualityGate(contract, max_failing_rows=3)
    gate.feed(batch(["a", None, "c"], [1.0, 2.0, 3.0], 1))
    gate.feed(batch([None, None, "f"], [1.0, 2.0, 3.0], 11))
    not_null = result_of(gate.finish(), "expect_column_values_to_not_be_null")
    assert not not_null.success
    assert not_null.unexpected_count == 3
    assert not_null.unexpected_percent == pytest.approx(50.0)
    assert not_null.failing_rows == [2, 11, 12]


def test_warnings_and_info_do_not_gate(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a", "b"], [-5.0, 2.0], 1))
    report = gate.finish()
    warning = result_of(report, "expect_column_values_to_be_between")
    assert report.passed
    assert not warning.success and warning.severity == "warning" and warning.failing_rows == [1]
    assert report.warnings == 1 and report.critical_failures == 0


def test_column_aggregate_reports_observed_value(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a"], [10.0], 1))
    gate.feed(batch(["b"], [5000.0], 2))
    report = gate.finish()
    maximum = result_of(report, "expect_column_max_to_be_between")
    assert not report.passed and not maximum.success and maximum.observed_value == 5000.0


def test_cast_failures_gate_as_critical(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a", "b"], [1.0, None], 1))
    gate.add_cast_failures("amount", [2], ["twelve"])
    gate.add_cast_failures("amount", [7], ["n/a"])
    report = gate.finish()
    cast = result_of(report, CAST_FAILURE_TYPE)
    assert not report.passed and report.critical_failures == 1
    assert cast.kwargs == {"column": "amount", "type": "number"}
    assert (
        cast.unexpected_count == 2 and cast.failing_rows == [2, 7] and cast.sample_values == ["twelve", "n/a"]
    )


def test_table_expectations_see_row_count_and_column_names(contract: Contract) -> None:
    gate = QualityGate(contract)
    extra = batch(["a"], [1.0], 1).append_column("colour", pa.array(["red"]))
    gate.feed(extra)
    report = gate.finish()
    assert result_of(report, "expect_table_row_count_to_be_between").observed_value == 1
    assert not result_of(report, "expect_table_columns_to_match_set").success


def test_empty_stream_fails_row_count(contract: Contract) -> None:
    report = QualityGate(contract).finish()
    assert not report.passed and report.rows_evaluated == 0
    assert not result_of(report, "expect_table_row_count_to_be_between").success


def test_report_is_json_serialisable(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a", "a"], [1.0, -1.0], 1))
    gate.add_cast_failures("placed", [3], ["31/02/2024"])
    payload = gate.finish().to_dict()
    text = json.dumps(payload)
    assert json.loads(text)["passed"] is False
    assert {"passed", "results", "rows_evaluated", "critical_failures", "warnings"} <= set(payload)


def test_batch_without_source_row_is_refused(contract: Contract) -> None:
    gate = QualityGate(contract)
    with pytest.raises(ValueError, match="_source_row"):
        gate.feed(batch(["a"], [1.0], 1).drop_columns(["_source_row"]))


def test_quarantine_expectation_collects_every_failing_row_across_chunks() -> None:
    doc = json.loads(json.dumps(build_contract().suite))
    doc["expectations"][2] = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "mostly": 0.1},
        "meta": {"on_row_failure": "quarantine"},
    }
    contract = parse_contract("orders", json.dumps(doc).encode())
    gate = QualityGate(contract, max_failing_rows=3, chunk_rows=50)
    for first in range(1, 201, 40):  # 200 rows in 5 batches, validated in chunks of >= 50 rows
        ids = [f"k{first + i}" for i in range(40)]
        gate.feed(batch(ids, [-1.0 if (first + i) % 4 == 0 else 1.0 for i in range(40)], first))
    report = gate.finish()

    assert report.passed
    amount = result_of(report, "expect_column_values_to_be_between")
    assert amount.unexpected_count == 50 and len(amount.failing_rows) == 3  # the report keeps samples
    held = gate.held_rows()
    assert sorted(held) == list(range(4, 201, 4))  # the quarantine keeps them all
    assert set(map(tuple, held.values())) == {(2,)}


def test_fail_file_expectations_hold_no_rows(contract: Contract) -> None:
    gate = QualityGate(contract)
    gate.feed(batch(["a", "b"], [-1.0, 2.0], 1))
    gate.finish()
    assert gate.held_rows() == {}

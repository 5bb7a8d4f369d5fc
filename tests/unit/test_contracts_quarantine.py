"""Parsing ``on_row_failure`` (docs/CONTRACTS.md#row-level-quarantine): what may quarantine, and why not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventpulse.contracts.loader import parse_contract
from eventpulse.errors import ContractError

BASE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
]


def build(expectations: list[dict[str, Any]], **eventpulse: Any) -> bytes:
    doc = {
        "name": "orders",
        "meta": {
            "eventpulse": {
                "primary_key": ["id"],
                "columns": {"id": {"type": "string", "nullable": False}, "amount": "number"},
                **eventpulse,
            }
        },
        "expectations": [*BASE, *expectations],
    }
    return json.dumps(doc).encode()


def between(mostly: float | None = 0.9, **meta: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"column": "amount", "min_value": 0}
    if mostly is not None:
        kwargs["mostly"] = mostly
    return {"type": "expect_column_values_to_be_between", "kwargs": kwargs, "meta": meta}


def test_default_is_fail_file_for_every_expectation() -> None:
    contract = parse_contract("orders", build([between()]))
    assert contract.on_row_failure == "fail_file"
    assert not contract.quarantines and all(e.on_row_failure == "fail_file" for e in contract.expectations)


def test_an_expectation_may_quarantine_with_mostly_below_one() -> None:
    contract = parse_contract("orders", build([between(on_row_failure="quarantine")]))
    assert [e.on_row_failure for e in contract.expectations] == ["fail_file", "fail_file", "quarantine"]


def test_dataset_default_applies_only_where_rows_can_be_held() -> None:
    contract = parse_contract("orders", build([between()], on_row_failure="quarantine"))
    # not-null and unique guard the declarations (critical, mostly 1): they keep failing the file
    assert [e.on_row_failure for e in contract.expectations] == ["fail_file", "fail_file", "quarantine"]


def test_an_expectation_overrides_the_dataset_default() -> None:
    doc = build([between(on_row_failure="fail_file"), between(0.5)], on_row_failure="quarantine")
    contract = parse_contract("orders", doc)
    assert [e.on_row_failure for e in contract.expectations][2:] == ["fail_file", "quarantine"]


def test_a_warning_expectation_may_quarantine_without_mostly() -> None:
    contract = parse_contract(
        "orders", build([between(None, severity="warning", on_row_failure="quarantine")])
    )
    assert contract.expectations[2].quarantines


@pytest.mark.parametrize(
    ("doc", "key", "fix"),
    [
        (
            build([between(None, on_row_failure="quarantine")]),
            "expectations[2].meta.on_row_failure",
            "mostly",
        ),
        (build([between(1, on_row_failure="quarantine")]), "expectations[2].meta.on_row_failure", "mostly"),
        (build([between(on_row_failure="hold")]), "expectations[2].meta.on_row_failure", "fail_file"),
        (
            build(
                [
                    {
                        "type": "expect_column_mean_to_be_between",
                        "kwargs": {"column": "amount", "min_value": 0},
                        "meta": {"on_row_failure": "quarantine"},
                    }
                ]
            ),
            "expectations[2].meta.on_row_failure",
            "row-level",
        ),
        (build([between()], on_row_failure="sometimes"), "meta.eventpulse.on_row_failure", "quarantine"),
        (build([between(None)], on_row_failure="quarantine"), "meta.eventpulse.on_row_failure", "mostly"),
    ],
    ids=["mostly-missing", "mostly-one", "unknown-value", "aggregate", "unknown-default", "nothing-to-hold"],
)
def test_quarantine_that_cannot_work_is_refused_with_the_fix(doc: bytes, key: str, fix: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_contract("orders", doc)
    assert caught.value.details["key"] == key
    assert fix in (caught.value.hint or "")

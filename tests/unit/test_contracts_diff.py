"""Diffs between contract versions: what a person editing a contract needs to see changed."""

from __future__ import annotations

import copy
from typing import Any

from eventpulse.contracts.diff import diff_suites


def base() -> dict[str, Any]:
    return {
        "name": "orders",
        "meta": {
            "eventpulse": {
                "primary_key": ["id"],
                "columns": {"id": {"type": "string", "nullable": False}, "amount": "number"},
            }
        },
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
        ],
    }


def kinds(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["kind"], c["path"]) for c in changes]


def test_identical_suites_have_no_changes_whatever_the_key_order() -> None:
    reordered = dict(reversed(list(base().items())))
    assert diff_suites(base(), reordered) == []


def test_a_first_contract_is_all_additions() -> None:
    changes = diff_suites(None, base())
    assert [c["kind"] for c in changes].count("column_added") == 2
    assert [c["kind"] for c in changes].count("expectation_added") == 3
    assert ("primary_key_changed", "meta.eventpulse.primary_key") in kinds(changes)


def test_columns_added_removed_and_retyped_are_named() -> None:
    after = copy.deepcopy(base())
    columns = after["meta"]["eventpulse"]["columns"]
    columns["amount"] = {"type": "integer", "nullable": False}
    columns["zip"] = "string"
    after["expectations"].append(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}}
    )
    changes = diff_suites(base(), after)
    changed = next(c for c in changes if c["kind"] == "column_changed")
    assert changed["column"] == "amount"
    assert changed["fields"] == ["nullable", "type"]
    assert changed["before"] == {"type": "number", "nullable": True}
    assert ("column_added", "meta.eventpulse.columns.zip") in kinds(changes)
    removed = copy.deepcopy(base())
    del removed["meta"]["eventpulse"]["columns"]["amount"]
    assert ("column_removed", "meta.eventpulse.columns.amount") in kinds(diff_suites(base(), removed))


def test_an_expectation_whose_bounds_moved_is_changed_not_replaced() -> None:
    after = copy.deepcopy(base())
    after["expectations"][2]["kwargs"]["min_value"] = 10
    after["expectations"][2]["meta"] = {"severity": "warning"}
    changes = diff_suites(base(), after)
    assert kinds(changes) == [("expectation_changed", "expectations[2]")]
    assert changes[0]["columns"] == ["amount"]
    assert changes[0]["fields"] == ["kwargs", "meta"]


def test_removed_expectations_and_policy_changes_are_reported() -> None:
    after = copy.deepcopy(base())
    del after["expectations"][2]
    after["meta"]["eventpulse"]["drift_policy"] = "freeze"
    changes = diff_suites(base(), after)
    assert ("drift_policy_changed", "meta.eventpulse.drift_policy") in kinds(changes)
    removed = next(c for c in changes if c["kind"] == "expectation_removed")
    assert removed["expectation_type"] == "expect_column_values_to_be_between"
    assert removed["columns"] == ["amount"]


def test_two_expectations_of_one_type_on_one_column_are_told_apart() -> None:
    before = base()
    before["expectations"].append(
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "max_value": 9}}
    )
    after = copy.deepcopy(before)
    after["expectations"][3]["kwargs"]["max_value"] = 99
    changes = diff_suites(before, after)
    assert kinds(changes) == [("expectation_changed", "expectations[3]")]
    assert changes[0]["columns"] == ["amount"]

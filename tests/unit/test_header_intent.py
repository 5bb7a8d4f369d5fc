"""Fail fast: a declared header is accepted or rejected exactly as the processor would on its names."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpulse.contracts.model import Contract
from eventpulse.pipeline.intent import HeaderRefused, check_header
from eventpulse.pipeline.settling import DriftSettler
from eventpulse.schema.drift import DRIFT_MODES, DriftPolicy
from eventpulse.schema.model import Column, TableSchema

KNOWN = TableSchema.of(
    [Column("id", "integer", nullable=False), Column("flood_zone", "string"), Column("price", "number")]
)
STRICT = DriftPolicy(new_columns="fail", removed_columns="fail", type_changes="fail", nullability="warn")


def build_contract(policy: DriftPolicy, schema: TableSchema = KNOWN) -> Contract:
    return Contract("parcels", "v1", {}, schema, (), policy, (), None)


def test_the_known_columns_are_accepted_in_any_order_with_only_an_order_warning() -> None:
    check = check_header(build_contract(STRICT), None, ["price", "id", "flood_zone"])
    assert check.outcome == "accept"
    # A new order is reported (drift_policy.column_order, default warn) but never refuses a file.
    assert [(c.kind, c.breaking) for c in check.changes] == [("column_order", False)]
    assert check.ensure_accepted() is check


def test_a_removed_column_under_fail_is_refused_with_a_message_naming_it_and_the_policy() -> None:
    check = check_header(build_contract(STRICT), None, ["id", "price"])
    assert check.outcome == "reject"
    with pytest.raises(HeaderRefused) as refused:
        check.ensure_accepted()
    error = refused.value
    assert error.http_status == 422 and error.code == "schema_drift"
    assert "column 'flood_zone' is missing; the drift policy says removed_columns: fail" in error.message
    assert "drift_policy" in error.hint and "nothing was accepted" in error.hint
    (change,) = error.details["header_check"]["changes"]
    assert change["kind"] == "column_removed" and change["column"] == "flood_zone"
    assert change["policy"] == "removed_columns" and change["breaking"] is True
    assert error.details["drift_policy"]["removed_columns"] == "fail"


def test_a_new_column_is_refused_under_freeze_and_accepted_under_evolve_with_the_change_listed() -> None:
    frozen = check_header(build_contract(DriftPolicy(new_columns="freeze")), None, [*KNOWN.names, "owner"])
    assert frozen.outcome == "reject"
    with pytest.raises(
        HeaderRefused, match="column 'owner' is new; the drift policy says new_columns: freeze"
    ):
        frozen.ensure_accepted()
    evolving = check_header(build_contract(DriftPolicy(new_columns="evolve")), None, [*KNOWN.names, "owner"])
    assert evolving.outcome == "accept"
    assert evolving.to_dict()["changes"] == [
        {
            "kind": "column_added",
            "column": "owner",
            "policy": "new_columns",
            "mode": "evolve",
            "breaking": False,
            "message": "column 'owner' is new; the drift policy says new_columns: evolve",
        }
    ]


def test_a_required_column_missing_under_a_lenient_policy_is_refused_and_the_message_says_why() -> None:
    check = check_header(build_contract(DriftPolicy(removed_columns="warn")), None, ["flood_zone", "price"])
    with pytest.raises(
        HeaderRefused, match=r"removed_columns: warn, but the column is required \(NOT NULL\)"
    ):
        check.ensure_accepted()


def test_a_column_the_history_added_counts_as_known_so_its_absence_is_refused() -> None:
    history = TableSchema.of([*KNOWN, Column("owner", "string")])
    assert check_header(build_contract(STRICT), None, KNOWN.names).outcome == "accept"
    check = check_header(build_contract(STRICT), history, KNOWN.names)
    assert check.outcome == "reject" and [c.column for c in check.changes] == ["owner"]


def test_a_partial_header_never_proves_a_missing_column_but_proves_a_new_one() -> None:
    # NDJSON: the first record's keys; a later record may hold the absent ones.
    assert check_header(build_contract(STRICT), None, ["id"], complete=False).outcome == "accept"
    new = check_header(build_contract(STRICT), None, ["id", "owner"], complete=False)
    assert new.outcome == "reject" and [(c.kind, c.column) for c in new.changes] == [
        ("column_added", "owner")
    ]
    assert new.columns == ("id", "owner")  # what the client declared, not the assumed rest


names = st.lists(st.sampled_from(("id", "flood_zone", "price", "a", "b")), unique=True, max_size=5)
policies = st.builds(DriftPolicy, *(st.sampled_from(DRIFT_MODES) for _ in range(4)))


@settings(max_examples=300, deadline=None, database=None)
@given(names, policies)
def test_the_check_rejects_exactly_when_the_processor_rejects_on_the_landed_files_header(
    header: list[str], policy: DriftPolicy
) -> None:
    contract = build_contract(policy)
    processor_rejects = DriftSettler(KNOWN, contract).settle_header(header) is not None
    assert (check_header(contract, None, header).outcome == "reject") == processor_rejects


def test_the_signed_url_function_checks_headers_without_importing_pyarrow() -> None:
    # Its cold start is budgeted (docs/BENCHMARKS.md); pyarrow alone costs more than the budget's margin.
    heavy = "{'pyarrow', 'numpy', 'pandas'}"
    code = f"import sys, eventpulse.cloud.signed_url; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Column order, per-column policies and sheet changes (schema/drift.py, schema/policy.py)."""

import pyarrow as pa
import pytest

from eventpulse.contracts.model import Contract
from eventpulse.errors import ContractError
from eventpulse.pipeline.settling import DriftSettler
from eventpulse.schema.drift import DriftPolicy, decide_drift, decide_sheet_drift, diff_column_order
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.schema.model import Column, TableSchema


def schema(*cols):
    return TableSchema.of(Column(n, t, nb) for n, t, nb in cols)


KNOWN = schema(("id", "string", False), ("amount", "number", True), ("land_use", "string", True))


def test_reordered_columns_are_reported_as_a_warning_and_load():
    observed = schema(("amount", "number", True), ("id", "string", False), ("land_use", "string", True))
    decision = decide_drift(KNOWN, observed, DriftPolicy())
    (change,) = decision.changes
    assert (change.kind, change.mode, change.breaking) == ("column_order", "warn", False)
    assert change.details == {
        "known_order": ["id", "amount", "land_use"],
        "observed_order": ["amount", "id", "land_use"],
    }
    assert decision.outcome == "accept" and not decision.evolved and decision.baseline == KNOWN


def test_column_order_policy_allow_is_recorded_in_the_change():
    observed = schema(("land_use", "string", True), ("id", "string", False), ("amount", "number", True))
    policy = DriftPolicy.from_meta({"column_order": "allow"})
    (change,) = decide_drift(KNOWN, observed, policy).changes
    assert change.mode == "allow" and change.to_dict()["details"]["observed_order"][0] == "land_use"


def test_added_or_missing_columns_alone_are_not_a_reorder():
    assert diff_column_order(["id", "a", "b"], ["x", "id", "b"]) is None
    assert diff_column_order(["id", "a", "b"], ["id", "b", "a"]) == (["id", "a", "b"], ["id", "b", "a"])


def test_column_order_only_takes_report_modes():
    with pytest.raises(ContractError, match="column_order") as exc:
        DriftPolicy.from_meta({"column_order": "fail"})
    assert "allow, warn" in exc.value.hint


def test_per_column_rule_overrides_the_kind_for_that_column_only():
    policy = DriftPolicy.from_meta(
        {"type_changes": "evolve", "columns": {"amount": {"type_changes": "fail"}}}
    )
    observed = schema(("id", "string", False), ("amount", "string", True), ("land_use", "integer", True))
    decision = decide_drift(
        schema(("id", "string", False), ("amount", "number", True), ("land_use", "boolean", True)),
        observed,
        policy,
    )
    modes = {c.column: (c.kind, c.mode) for c in decision.changes}
    assert modes == {"amount": ("type_widened", "fail"), "land_use": ("type_incompatible", "evolve")}
    assert (
        decision.outcome == "reject" and "'amount'" in decision.reason and "land_use" not in decision.reason
    )


def test_exact_kind_rule_wins_over_the_columns_type_changes_rule():
    policy = DriftPolicy.from_meta(
        {"columns": {"amount": {"type_changes": "fail", "type_widened": "evolve"}}}
    )
    widened = schema(("id", "string", False), ("amount", "string", True), ("land_use", "string", True))
    decision = decide_drift(KNOWN, widened, policy)
    assert decision.outcome == "accept" and decision.baseline.get("amount").type == "string"
    incompatible = decide_drift(
        schema(("id", "string", False), ("amount", "boolean", True)),
        schema(("id", "string", False), ("amount", "date", True)),
        policy,
    )
    assert incompatible.outcome == "reject"


def test_narrowing_is_no_drift_unless_a_column_rule_forbids_it():
    narrowed = schema(("id", "string", False), ("amount", "integer", True), ("land_use", "string", True))
    plain = decide_drift(KNOWN, narrowed, DriftPolicy())
    assert plain.outcome == "accept" and [c.breaking for c in plain.changes] == [False]
    strict = DriftPolicy.from_meta({"columns": {"amount": {"type_narrowed": "fail"}}})
    decision = decide_drift(KNOWN, narrowed, strict)
    assert decision.outcome == "reject" and "'amount' narrowed from number to integer" in decision.reason


def test_type_narrowed_rule_takes_no_mode_that_has_nothing_to_do():
    with pytest.raises(ContractError, match="type_narrowed") as exc:
        DriftPolicy.from_meta({"columns": {"amount": {"type_narrowed": "evolve"}}})
    assert "quarantine" in exc.value.hint and "evolve" not in exc.value.hint


def test_per_column_removed_and_new_rules():
    policy = DriftPolicy.from_meta(
        {
            "removed_columns": "fail",
            "new_columns": "evolve",
            "columns": {"land_use": {"removed_columns": "allow"}, "secret": {"new_columns": "fail"}},
        }
    )
    without_land_use = schema(("id", "string", False), ("amount", "number", True))
    assert decide_drift(KNOWN, without_land_use, policy).outcome == "accept"
    with_secret = schema(*[(c.name, c.type, c.nullable) for c in KNOWN], ("secret", "string", True))
    assert decide_drift(KNOWN, with_secret, policy).outcome == "reject"
    with_other = schema(*[(c.name, c.type, c.nullable) for c in KNOWN], ("other", "string", True))
    assert decide_drift(KNOWN, with_other, policy).evolved


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"amount": "fail"}, "not an object of rules"),
        ({"amount": {"type_change": "fail"}}, "unknown drift policy keys"),
        ({"amount": {"type_changes": "explode"}}, "unknown mode"),
        (["amount"], "not an object"),
    ],
)
def test_bad_column_rules_are_contract_errors(rules, message):
    with pytest.raises(ContractError, match=message):
        DriftPolicy.from_meta({"columns": rules})


def test_policy_round_trips_its_column_rules():
    meta = {"columns": {"amount": {"type_narrowed": "fail"}}, "sheets": "allow"}
    out = DriftPolicy.from_meta(meta).to_dict()
    assert out["columns"] == meta["columns"] and out["sheets"] == "allow" and out["column_order"] == "warn"
    assert "columns" not in DriftPolicy().to_dict()


def test_a_narrowing_reject_waits_for_the_whole_file():
    # Integers first, a fraction later: after the first batch the column looks narrowed, after the
    # second it is the known number again. Only the whole file may decide a type_narrowed rule.
    policy = DriftPolicy.from_meta({"columns": {"amount": {"type_narrowed": "fail"}}})
    known = schema(("id", "string", False), ("amount", "number", True))
    settler = DriftSettler(known, Contract("d", "v1", {}, known, ("id",), policy, (), None))
    inferrer = SchemaInferrer.for_format("csv")
    inferrer.feed(pa.record_batch({"id": ["a"], "amount": ["12"]}))
    assert decide_drift(known, inferrer.result(), policy).outcome == "reject"
    assert settler.settle_rows(inferrer) is None
    inferrer.feed(pa.record_batch({"id": ["b"], "amount": ["12.5"]}))
    assert settler.settle(inferrer.result(), inferrer.rows).decision.outcome == "accept"


def test_sheets_added_and_removed_from_a_known_workbook():
    changes = decide_sheet_drift(["Data", "Notes"], ["Data", "Summary"], "warn")
    assert [(c.kind, c.column, c.breaking) for c in changes] == [
        ("sheet_added", "Summary", False),
        ("sheet_removed", "Notes", False),
    ]
    assert changes[0].details == {"known_sheets": ["Data", "Notes"], "sheets": ["Data", "Summary"]}
    assert decide_sheet_drift(None, ["Data"], "warn") == ()
    assert decide_sheet_drift(["Data"], ["Data"], "warn") == ()

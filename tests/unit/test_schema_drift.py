import pytest

from eventpulse.errors import ContractError
from eventpulse.schema.drift import DriftPolicy, decide_drift
from eventpulse.schema.model import Column, TableSchema


def schema(*cols):
    return TableSchema.of(Column(n, t, nb) for n, t, nb in cols)


KNOWN = schema(("id", "string", False), ("price", "number", True), ("n", "integer", True))


def test_first_file_is_accepted_as_baseline():
    decision = decide_drift(None, KNOWN, DriftPolicy())
    assert decision.outcome == "accept" and decision.evolved and decision.baseline == KNOWN


def test_fail_policy_rejects_replayed_drifted_file_every_time():
    observed = schema(
        ("id", "string", False), ("price", "number", True), ("n", "integer", True), ("extra", "string", True)
    )
    policy = DriftPolicy.from_meta("fail")
    for _ in range(3):  # the known schema is never replaced by the observed one
        decision = decide_drift(KNOWN, observed, policy)
        assert decision.outcome == "reject"
        assert "extra" in decision.reason
        assert decision.baseline == KNOWN


def test_evolve_appends_new_column_nullable():
    observed = schema(("extra", "integer", False), *[(c.name, c.type, c.nullable) for c in KNOWN])
    decision = decide_drift(KNOWN, observed, DriftPolicy())
    assert decision.outcome == "accept" and decision.evolved
    assert decision.baseline.names == ["id", "price", "n", "extra"]
    assert decision.baseline.get("extra") == Column("extra", "integer", True)


@pytest.mark.parametrize(
    ("mode", "drop", "discard"),
    [
        ("allow", {"x"}, set()),
        ("warn", {"x"}, set()),
        ("discard_value", {"x"}, set()),
        ("discard_row", {"x"}, {"x"}),
    ],
)
def test_new_column_modes_that_do_not_load_it(mode, drop, discard):
    observed = schema(("id", "string", False), ("x", "string", True))
    decision = decide_drift(schema(("id", "string", False)), observed, DriftPolicy(new_columns=mode))
    assert decision.outcome == "accept" and not decision.evolved
    assert decision.drop_columns == drop and decision.discard_rows_with_values_in == discard


def test_number_to_string_is_widening_and_fails_by_default():
    observed = schema(("id", "string", False), ("price", "string", True), ("n", "integer", True))
    decision = decide_drift(KNOWN, observed, DriftPolicy())
    (change,) = decision.changes
    assert (change.kind, change.before, change.after) == ("type_widened", "number", "string")
    assert change.breaking
    assert decision.outcome == "reject"


def test_evolve_widens_and_incompatible_goes_to_string():
    known = schema(("a", "integer", True), ("b", "boolean", True))
    observed = schema(("a", "number", True), ("b", "date", True))
    decision = decide_drift(known, observed, DriftPolicy(type_changes="evolve"))
    assert [c.kind for c in decision.changes] == ["type_widened", "type_incompatible"]
    assert decision.baseline == schema(("a", "number", True), ("b", "string", True))
    assert decision.outcome == "accept" and decision.evolved


def test_narrowed_and_all_null_observations_are_not_drift():
    observed = schema(("id", "string", False), ("price", "integer", True), ("n", "null", True))
    decision = decide_drift(KNOWN, observed, DriftPolicy.from_meta("fail"))
    assert decision.outcome == "accept" and not decision.evolved
    assert [(c.kind, c.breaking) for c in decision.changes] == [("type_narrowed", False)]


def test_discard_modes_on_type_changes():
    observed = schema(("id", "string", False), ("price", "string", True), ("n", "number", True))
    row = decide_drift(KNOWN, observed, DriftPolicy(type_changes="discard_row"))
    value = decide_drift(KNOWN, observed, DriftPolicy(type_changes="discard_value"))
    assert row.discard_rows_on_cast_failure == {"price", "n"} and row.baseline == KNOWN
    assert value.null_on_cast_failure == {"price", "n"} and value.outcome == "accept"


def test_nullability_relaxed():
    observed = schema(("id", "string", True), ("price", "number", True), ("n", "integer", True))
    assert decide_drift(KNOWN, observed, DriftPolicy(nullability="fail")).outcome == "reject"
    evolved = decide_drift(KNOWN, observed, DriftPolicy(nullability="evolve"))
    assert evolved.baseline.get("id") == Column("id", "string", True) and evolved.evolved
    warned = decide_drift(KNOWN, observed, DriftPolicy())
    assert warned.outcome == "accept" and not warned.evolved


def test_known_nullable_and_observed_without_nulls_is_not_drift():
    observed = schema(("id", "string", False), ("price", "number", False), ("n", "integer", False))
    assert decide_drift(KNOWN, observed, DriftPolicy.from_meta("fail")).changes == ()


def test_removed_column_rules():
    observed = schema(("id", "string", False), ("price", "number", True))
    assert decide_drift(KNOWN, observed, DriftPolicy()).outcome == "reject"
    allowed = decide_drift(KNOWN, observed, DriftPolicy(removed_columns="allow"))
    assert allowed.outcome == "accept" and allowed.baseline == KNOWN
    # A NOT NULL column cannot be loaded as null, whatever allow says
    without_id = schema(("price", "number", True), ("n", "integer", True))
    assert decide_drift(KNOWN, without_id, DriftPolicy(removed_columns="allow")).outcome == "reject"
    evolved = decide_drift(KNOWN, without_id, DriftPolicy(removed_columns="evolve"))
    assert evolved.outcome == "accept" and evolved.baseline.get("id").nullable


def test_quarantine_outcome_and_fail_wins():
    observed = schema(
        ("id", "string", False), ("price", "string", True), ("n", "integer", True), ("x", "string", True)
    )
    q = decide_drift(KNOWN, observed, DriftPolicy(type_changes="quarantine"))
    assert q.outcome == "quarantine" and q.reason
    both = decide_drift(KNOWN, observed, DriftPolicy(type_changes="quarantine", new_columns="freeze"))
    assert both.outcome == "reject"


def test_policy_from_meta_validates_keys_and_modes():
    assert DriftPolicy.from_meta({"new_columns": "fail"}).to_dict()["new_columns"] == "fail"
    assert DriftPolicy.from_meta(None) == DriftPolicy()
    with pytest.raises(ContractError, match="unknown drift policy keys"):
        DriftPolicy.from_meta({"colums": "fail"})  # a typo of a real key
    with pytest.raises(ContractError) as exc:
        DriftPolicy.from_meta("explode")
    assert "discard_row" in exc.value.hint


def test_decision_serialises():
    d = decide_drift(KNOWN, schema(("id", "string", False)), DriftPolicy()).to_dict()
    assert d["outcome"] == "reject" and d["changes"][0]["kind"] == "column_removed"


def test_known_type_the_values_fit_losslessly_is_no_change_even_under_fail():
    observed = TableSchema.of(
        [
            Column("id", "string", False),
            Column("price", "string", True, fits=frozenset({"number", "integer"})),
            Column("n", "number", True, fits=frozenset({"integer"})),
        ]
    )
    decision = decide_drift(KNOWN, observed, DriftPolicy.from_meta("fail"))
    assert decision.outcome == "accept" and decision.changes == () and not decision.evolved
    assert decision.baseline == KNOWN  # the values are cast to the known types


def test_fits_that_miss_the_known_type_leave_the_change_as_it_was():
    observed = TableSchema.of(
        [
            Column("id", "string", False),
            Column("price", "string", True, fits=frozenset({"date"})),
            Column("n", "integer", True),
        ]
    )
    (change,) = decide_drift(KNOWN, observed, DriftPolicy()).changes
    assert (change.kind, change.before, change.after, change.breaking) == (
        "type_widened",
        "number",
        "string",
        True,
    )


def test_first_baseline_keeps_no_inference_evidence():
    observed = TableSchema.of([Column("d", "datetime", True, fits=frozenset({"date"}))])
    baseline = decide_drift(None, observed, DriftPolicy()).baseline
    assert baseline.to_dict() == {"columns": [{"name": "d", "type": "datetime", "nullable": True}]}


def test_fits_are_evidence_not_identity():
    plain = TableSchema.of([Column("d", "datetime", True)])
    fitting = TableSchema.of([Column("d", "datetime", True, fits=frozenset({"date"}))])
    assert fitting == plain and fitting.fingerprint() == plain.fingerprint()
    assert fitting.to_dict()["columns"][0]["fits"] == ["date"]
    assert "fits" not in plain.to_dict()["columns"][0]
    assert TableSchema.from_dict(fitting.to_dict()).get("d").fits == {"date"}  # type: ignore[union-attr]

"""An early drift decision is a reject only when the whole file would be rejected too (pure).

``DriftSettler`` decides on the header, and after each batch; the properties below drive random known
schemas, policies, headers and batches of text values through it and compare every early reject with
the decision on the whole file (``decide_drift`` on everything inferred).
"""

from __future__ import annotations

from typing import get_args

import pyarrow as pa
from hypothesis import event, given, settings
from hypothesis import strategies as st

from eventpulse.contracts.model import Contract
from eventpulse.pipeline.settling import DriftSettler
from eventpulse.schema.drift import DRIFT_MODES, DriftChange, DriftDecision, DriftPolicy, decide_drift
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.schema.model import Column, LogicalType, TableSchema

TYPES: tuple[LogicalType, ...] = tuple(t for t in get_args(LogicalType) if t != "null")
NAMES = ("a", "b", "c", "d", "e")
TEXT_VALUES = (
    None, "12", "-3", "1.5", "1999.0", "07316", "true", "FALSE", "2024-03-12", "2024-03-12 00:00:00",
    "2024-03-12 10:30:00", "$1,234.00", "23.5C", "abc",
)  # fmt: skip
"""Text values that cover every inferred type, every lossless fit and the values that fit nothing."""

PROPERTY = settings(max_examples=300, deadline=None, database=None)

columns = st.builds(Column, st.sampled_from(NAMES), st.sampled_from(TYPES), st.booleans())
known_schemas = st.lists(columns, min_size=1, max_size=4, unique_by=lambda c: c.name).map(TableSchema.of)
policies = st.builds(
    DriftPolicy, *(st.sampled_from(DRIFT_MODES) for _ in ("new", "removed", "types", "nullability"))
)


def build_contract(known: TableSchema, policy: DriftPolicy) -> Contract:
    return Contract("settling", "v1", {}, known, (), policy, (), None)


def rejecting(decision: DriftDecision) -> set[tuple[str, str]]:
    """What rejects the file: (aspect, column) of each breaking fail/freeze change.

    The aspect is the change kind, with every type change as ``type``: more rows can move a column
    from ``type_incompatible`` to ``type_widened`` (date, then number, then string), never out of it.
    """
    return {(_aspect(c), c.column) for c in decision.changes if _rejects(c)}


def _aspect(change: DriftChange) -> str:
    return "type" if change.kind.startswith("type_") else change.kind


def _rejects(change: DriftChange) -> bool:
    return change.breaking and change.mode in ("fail", "freeze")


@st.composite
def observed_like(draw: st.DrawFn, names: list[str]) -> TableSchema:
    """Any schema a whole read could observe for a file with this header."""
    return TableSchema.of(
        Column(
            name,
            draw(st.sampled_from(("null", *TYPES))),
            draw(st.booleans()),
            frozenset(draw(st.sets(st.sampled_from(TYPES)))),
        )
        for name in names
    )


@PROPERTY
@given(known=known_schemas, policy=policies, data=st.data())
def test_a_header_reject_is_a_reject_of_the_whole_file(known, policy, data) -> None:
    names = data.draw(st.lists(st.sampled_from(NAMES), unique=True))
    settled = DriftSettler(known, build_contract(known, policy)).settle_header(names)
    event("the header rejects" if settled else "the header leaves it to the rows")
    if settled is None:
        return
    assert settled.rows_read == 0 and not settled.types_read
    assert {c.kind for c in settled.decision.changes} <= {"column_added", "column_removed", "column_order"}
    whole = decide_drift(known, data.draw(observed_like(names)), policy)
    assert whole.outcome == "reject"
    assert rejecting(settled.decision) <= rejecting(whole)


@PROPERTY
@given(
    known=known_schemas,
    policy=policies,
    batches=st.lists(
        st.lists(st.tuples(*(st.sampled_from(TEXT_VALUES) for _ in NAMES)), min_size=0, max_size=4),
        min_size=1,
        max_size=6,
    ),
)
def test_a_reject_after_some_batches_is_a_reject_of_the_whole_file(known, policy, batches) -> None:
    settler = DriftSettler(known, build_contract(known, policy))
    inferrer = SchemaInferrer.for_format("csv")
    early = None
    for rows in batches:
        inferrer.feed(_text_batch(rows))
        early = early or settler.settle_rows(inferrer)
    whole = settler.settle(inferrer.result(), inferrer.rows)
    event(f"rejected early: {early is not None}, whole file: {whole.decision.outcome}")
    if early is None:
        return
    assert early.decision.outcome == whole.decision.outcome == "reject"
    assert early.rows_read <= whole.rows_read
    assert rejecting(early.decision) <= rejecting(whole.decision)


def _text_batch(rows: list[tuple[str | None, ...]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([row[i] for row in rows], pa.string()) for i in range(len(NAMES))], names=list(NAMES)
    )


KNOWN = TableSchema.of(
    [Column("id", "string", nullable=False), Column("price", "number"), Column("zip", "string")]
)


def test_a_new_column_under_fail_rejects_on_the_header_without_a_type() -> None:
    policy = DriftPolicy(new_columns="fail")
    settled = DriftSettler(KNOWN, build_contract(KNOWN, policy)).settle_header(["id", "price", "zip", "x"])

    assert settled is not None
    assert [(c.kind, c.column, c.after) for c in settled.decision.changes] == [("column_added", "x", None)]
    assert "new column 'x')" in settled.decision.reason  # no "(None)": its type was not read
    assert settled.drift["observed_schema"] == {"columns": [{"name": n} for n in ("id", "price", "zip", "x")]}
    assert settled.drift["observed_fingerprint"] is None
    assert settled.drift["decided"]["on"] == "header" and settled.drift["decided"]["rows_read"] == 0


def test_a_missing_not_null_column_rejects_on_the_header_even_under_allow() -> None:
    policy = DriftPolicy(removed_columns="allow")
    settled = DriftSettler(KNOWN, build_contract(KNOWN, policy)).settle_header(["price", "zip"])

    assert settled is not None
    assert "column 'id' is missing" in settled.decision.reason


def test_header_changes_that_do_not_reject_leave_the_decision_to_the_rows() -> None:
    header = ["id", "price", "x"]  # zip (nullable) missing, x new
    for policy in (
        DriftPolicy(new_columns="quarantine", removed_columns="quarantine"),  # approval needs all types
        DriftPolicy(new_columns="evolve", removed_columns="allow"),
    ):
        assert DriftSettler(KNOWN, build_contract(KNOWN, policy)).settle_header(header) is None


def test_a_value_that_fits_the_known_type_losslessly_does_not_reject_early() -> None:
    known = TableSchema.of([Column("n", "integer")])
    settler = DriftSettler(known, build_contract(known, DriftPolicy(type_changes="fail")))
    inferrer = SchemaInferrer.for_format("csv")

    inferrer.feed(pa.RecordBatch.from_pydict({"n": pa.array(["1999.0", "12"], pa.string())}))
    assert settler.settle_rows(inferrer) is None  # observed number, but every value fits integer
    inferrer.feed(pa.RecordBatch.from_pydict({"n": pa.array(["12.5"], pa.string())}))
    settled = settler.settle_rows(inferrer)

    assert settled is not None and settled.rows_read == 3 and settled.evidence == "rows"
    assert [(c.kind, c.column) for c in settled.decision.changes] == [("type_widened", "n")]

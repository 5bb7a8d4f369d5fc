"""The known schema: the contract as evolution extended it, never narrowed by a file (pure)."""

from __future__ import annotations

from eventpulse.contracts.loader import parse_contract
from eventpulse.pipeline.baseline import known_schema
from eventpulse.schema.drift import DriftPolicy, decide_drift
from eventpulse.schema.model import Column, TableSchema
from tests.unit.test_contracts_loader import raw, suite

CONTRACT = parse_contract("orders", raw(suite()))  # id string (key), amount number


def test_without_history_the_known_schema_is_the_contract() -> None:
    assert known_schema(CONTRACT, None) == CONTRACT.schema


def test_known_schema_keeps_every_evolved_column_and_the_widened_declared_types() -> None:
    accepted = TableSchema.of(
        [
            Column("id", "string", False),
            Column("amount", "string"),
            Column("b", "integer"),
            Column("c", "date"),
        ]
    )
    assert known_schema(CONTRACT, accepted) == accepted


def test_a_declared_column_the_history_lacks_is_still_known() -> None:
    accepted = TableSchema.of([Column("id", "string", False), Column("b", "integer")])
    known = known_schema(CONTRACT, accepted)
    assert known.names == ["id", "amount", "b"]


def test_a_file_lacking_an_evolved_column_is_a_removed_column_for_the_policy() -> None:
    accepted = TableSchema.of(
        [Column("id", "string", False), Column("amount", "number"), Column("b", "integer")]
    )
    observed = TableSchema.of(
        [Column("id", "string", False), Column("amount", "number"), Column("c", "integer")]
    )
    known = known_schema(CONTRACT, accepted)

    evolved = decide_drift(known, observed, DriftPolicy(removed_columns="evolve"))
    rejected = decide_drift(known, observed, DriftPolicy(removed_columns="fail"))

    assert evolved.outcome == "accept" and evolved.baseline.names == ["id", "amount", "b", "c"]
    assert rejected.outcome == "reject" and "column 'b' is missing" in rejected.reason

"""Property: random file sequences under random drift policies keep history and table in agreement.

Hypothesis draws a contract (key ``id`` plus a declared column ``a``), a drift policy, and up to six CSV
files whose columns are random subsets (in random order) of a fixed pool, each column written either
in its own type or as text. Every file goes through the real pipeline and Postgres. After each one:
the latest schema history, ``datasets.curated_schema`` and the curated table agree; no file ends
FAILED_EXCEPTION; the file ends in the state a small oracle predicts from the policy; the rows it
loaded carry values exactly where the oracle says: in the columns it had, and, in rows it updated, in
the columns it lacks that held a value before (a file never overwrites a column it does not carry).

The oracle stays simple because of what is generated: values are never empty (no nullability drift),
and a column's type is either its own or ``string`` (a widening, never an incompatible change).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from eventpulse.curate.ddl import curated_table_name, quote_ident
from eventpulse.schema.model import LogicalType
from eventpulse.states import Status
from tests.helpers import ingest
from tests.integration.evolution_support import (
    KEY,
    assert_history_matches_table,
    history_columns,
    write_contract,
    write_csv,
)

# A failing example is shrunk through the real pipeline, which can take minutes: allow for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

POOL = ("a", "b", "c", "d", "e")
DECLARED = "a"  # the contract declares a (nullable); b..e can only arrive by evolution
BASE_TYPES: tuple[LogicalType, ...] = ("integer", "number", "string", "boolean", "date")
NEW_MODES = ("evolve", "allow", "warn", "discard_value", "fail", "quarantine")
REMOVED_MODES = ("evolve", "allow", "warn", "discard_value", "fail", "quarantine")
TYPE_MODES = ("evolve", "allow", "discard_value", "fail", "quarantine")
KEYS = tuple(f"k{n}" for n in range(8))  # few keys, so later files update earlier rows


@dataclass(frozen=True)
class FileSpec:
    columns: tuple[str, ...]
    """Pool columns in the file's order (``id`` always comes first)."""
    as_text: frozenset[str]
    """Columns this file writes as text instead of their own type."""
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    types: dict[str, LogicalType]
    policy: dict[str, str]
    files: tuple[FileSpec, ...]


@st.composite
def file_specs(draw: st.DrawFn) -> FileSpec:
    order = draw(st.permutations(POOL))
    columns = order[: draw(st.integers(0, len(POOL)))]
    as_text = draw(st.frozensets(st.sampled_from(POOL))) & set(columns)
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
    return FileSpec(tuple(columns), as_text, tuple(keys))


def _modes(modes: tuple[str, ...]) -> st.SearchStrategy[str]:
    # evolve about half the time: it is the mode that changes the schema, where the bugs were.
    return st.one_of(st.just("evolve"), st.sampled_from(modes))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    types = {name: draw(st.sampled_from(BASE_TYPES)) for name in POOL}
    policy = {
        "new_columns": draw(_modes(NEW_MODES)),
        "removed_columns": draw(_modes(REMOVED_MODES)),
        "type_changes": draw(_modes(TYPE_MODES)),
    }
    files = draw(st.lists(file_specs(), min_size=1, max_size=6))
    return Scenario(types, policy, tuple(files))


def _value(kind: str, n: int) -> str:
    return {
        "integer": str(n),
        "number": f"{n}.5",
        "string": f"s{n}",
        "boolean": "true" if n % 2 else "false",
        "date": f"2024-03-{1 + n % 28:02d}",
        "text": f"x{n}",  # no logical type but string fits it
    }[kind]


def _observed_type(scenario: Scenario, spec: FileSpec, column: str) -> str:
    return "string" if column in spec.as_text else scenario.types[column]


def _file_keys(spec: FileSpec, step: int) -> tuple[str, ...]:
    # One key of its own per file: equal bytes would be deduplicated into the earlier ingestion.
    return (*spec.keys, f"only{step}")


def _write_file(path: Path, scenario: Scenario, spec: FileSpec, step: int) -> Path:
    header = [KEY, *spec.columns]
    rows = [
        [
            key,
            *(
                _value("text" if c in spec.as_text else scenario.types[c], 7 * i + j)
                for j, c in enumerate(spec.columns)
            ),
        ]
        for i, key in enumerate(_file_keys(spec, step))
    ]
    return write_csv(path, header, rows)


@dataclass
class Oracle:
    """What the docs say happens, written without decide_drift: known columns, and each file's fate."""

    policy: dict[str, str]
    known: dict[str, str]
    has_history: bool = False
    values: dict[str, set[str]] = field(default_factory=dict)
    """Per key: the columns of its curated row that hold a value."""

    def feed(self, scenario: Scenario, spec: FileSpec, keys: tuple[str, ...]) -> Status:
        observed = {c: _observed_type(scenario, spec, c) for c in spec.columns}
        added = [c for c in spec.columns if c not in self.known]
        widened = [
            c for c in observed if c in self.known and self.known[c] != "string" and observed[c] == "string"
        ]
        removed = [c for c in self.known if c != KEY and c not in observed]
        modes = (
            [self.policy["new_columns"]] * bool(added)
            + [self.policy["type_changes"]] * bool(widened)
            + [self.policy["removed_columns"]] * bool(removed)
        )
        if "fail" in modes:
            return Status.FAILED_DRIFT
        if "quarantine" in modes:
            return Status.QUARANTINED
        if widened and self.policy["type_changes"] == "allow":
            return Status.FAILED_QUALITY  # text that does not cast to the known type is a critical failure
        nulled = set(widened) if self.policy["type_changes"] == "discard_value" else set()
        if self.policy["new_columns"] == "evolve":
            self.known.update({c: observed[c] for c in added})
        if self.policy["type_changes"] == "evolve":
            self.known.update({c: "string" for c in widened})
        self.has_history = True
        carried = {KEY} | (set(observed) & set(self.known))
        written = carried - nulled
        for key in keys:  # a column the file lacks keeps the value the row had (or stays empty)
            self.values[key] = written | (self.values.get(key, set()) - carried)
        return Status.LOADED

    def filled_counts(self, keys: tuple[str, ...]) -> dict[str, int]:
        """How many of these keys' rows hold a value in each known column."""
        return {c: sum(c in self.values[k] for k in keys) for c in self.known}


def _filled_counts(services: Any, dataset: str, keys: tuple[str, ...], columns: list[str]) -> dict[str, int]:
    # By the file's keys, not its _ingestion_id: a row the file left unchanged keeps its older lineage.
    counts = ", ".join(f"count({quote_ident(c)})" for c in columns)
    table = quote_ident(curated_table_name(dataset))
    with services.store.engine.connect() as conn:
        row = conn.execute(
            text(f"SELECT {counts} FROM {table} WHERE {quote_ident(KEY)} = ANY(CAST(:k AS text[]))"),
            {"k": list(keys)},
        ).one()
    return dict(zip(columns, (int(v) for v in row), strict=True))


@settings(
    max_examples=30,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout; a failure prints its minimal example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_random_file_sequences_keep_history_and_table_in_agreement(
    services, contracts_dir: Path, tmp_path: Path, scenario: Scenario
) -> None:
    dataset = f"prop_{uuid.uuid4().hex[:12]}"  # a fresh history per example
    write_contract(
        contracts_dir, dataset, columns={DECLARED: scenario.types[DECLARED]}, drift_policy=scenario.policy
    )
    oracle = Oracle(scenario.policy, {KEY: "string", DECLARED: scenario.types[DECLARED]})
    for step, spec in enumerate(scenario.files):
        path = _write_file(tmp_path / f"{dataset}_{step}.csv", scenario, spec, step)
        keys = _file_keys(spec, step)
        rows = len(keys)

        row = ingest(services, path, dataset)
        expected = oracle.feed(scenario, spec, keys)

        event(f"a file ends {row['status']}")  # --hypothesis-show-statistics shows the spread
        assert row["status"] not in (Status.FAILED_EXCEPTION, Status.FAILED_MAX_ATTEMPTS), row["error"]
        assert row["status"] == expected, (step, row["error"])
        assert_history_matches_table(services, dataset)
        assert history_columns(services, dataset) == (oracle.known if oracle.has_history else None)
        if expected is Status.LOADED:
            assert row["rows_loaded"] == rows
            counts = _filled_counts(services, dataset, keys, list(oracle.known))
            assert counts == oracle.filled_counts(keys)

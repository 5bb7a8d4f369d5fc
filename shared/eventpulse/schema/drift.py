"""Schema drift: compare an observed schema with the accepted one under a policy (pure, no I/O).

In the spirit of dlt's ``apply_schema_contract``: the caller loads the known schema, calls
``decide_drift`` and acts on the decision (and saves ``baseline`` only when the outcome is accept).
The semantics are tabled in docs/SCHEMA_DRIFT.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from eventpulse.schema.model import Column, LogicalType, TableSchema
from eventpulse.schema.policy import DRIFT_MODES, DriftMode, DriftPolicy, ReportMode

__all__ = [
    "DRIFT_MODES",
    "ChangeKind",
    "DriftChange",
    "DriftDecision",
    "DriftMode",
    "DriftPolicy",
    "decide_drift",
    "decide_header_drift",
    "decide_sheet_drift",
]

ChangeKind = Literal[
    "column_added",
    "column_removed",
    "type_widened",
    "type_narrowed",
    "type_incompatible",
    "nullability_relaxed",
    "column_order",
    "sheet_added",
    "sheet_removed",
]
Outcome = Literal["accept", "reject", "quarantine"]
_REJECTING: frozenset[DriftMode] = frozenset(("fail", "freeze"))
_BLOCKING: frozenset[DriftMode] = _REJECTING | {"quarantine"}  # the file cannot load as it is

# Partial order of logical types: a value of the key type always fits the listed wider types.
_WIDER: dict[LogicalType, frozenset[LogicalType]] = {
    "boolean": frozenset(("number", "string")),
    "integer": frozenset(("number", "string")),
    "number": frozenset(("string",)),
    "date": frozenset(("datetime", "string")),
    "datetime": frozenset(("string",)),
    "string": frozenset(),
}


@dataclass(frozen=True)
class DriftChange:
    kind: ChangeKind
    column: str
    before: LogicalType | None
    after: LogicalType | None
    mode: DriftMode
    breaking: bool
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """What the change is about beyond one column's types (the orders of a reorder, a sheet's name)."""

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "details"}
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass(frozen=True)
class DriftDecision:
    outcome: Outcome
    changes: tuple[DriftChange, ...]
    baseline: TableSchema
    evolved: bool
    drop_columns: frozenset[str] = frozenset()
    discard_rows_with_values_in: frozenset[str] = frozenset()
    discard_rows_on_cast_failure: frozenset[str] = frozenset()
    null_on_cast_failure: frozenset[str] = frozenset()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "changes": [c.to_dict() for c in self.changes],
            "baseline": self.baseline.to_dict(),
            "evolved": self.evolved,
            "drop_columns": sorted(self.drop_columns),
            "discard_rows_with_values_in": sorted(self.discard_rows_with_values_in),
            "discard_rows_on_cast_failure": sorted(self.discard_rows_on_cast_failure),
            "null_on_cast_failure": sorted(self.null_on_cast_failure),
            "reason": self.reason,
        }


def is_subtype(narrow: LogicalType, wide: LogicalType) -> bool:
    """True when every value of ``narrow`` fits ``wide`` (null fits everything)."""
    return narrow == wide or narrow == "null" or wide in _WIDER.get(narrow, frozenset())


def widen(a: LogicalType, b: LogicalType) -> LogicalType:
    """The narrowest type that holds both ``a`` and ``b``."""
    if is_subtype(a, b):
        return b
    if is_subtype(b, a):
        return a
    return "number" if {a, b} == {"boolean", "integer"} else "string"


def classify_type_change(
    known: LogicalType, observed: LogicalType, fits: frozenset[LogicalType] = frozenset()
) -> ChangeKind | None:
    """The kind of type change from ``known`` to ``observed``; None when there is none.

    ``fits`` are the narrower types the observed values also cast to without loss: when the known
    type is one of them, the values are cast to it and nothing changed (docs: "Lossless casts").
    """
    if known in fits:
        return None
    if is_subtype(observed, known):
        return None if observed in (known, "null") else "type_narrowed"
    return "type_widened" if is_subtype(known, observed) else "type_incompatible"


@dataclass
class _Plan:
    """Mutable scratch state while deciding; frozen into a DriftDecision at the end."""

    columns: dict[str, Column]
    changes: list[DriftChange]
    drop: set[str]
    discard_with_values: set[str]
    discard_on_failure: set[str]
    null_on_failure: set[str]

    def add(
        self,
        kind: ChangeKind,
        col: str,
        before: LogicalType | None,
        after: LogicalType | None,
        mode: DriftMode,
        breaking: bool,
    ) -> None:
        self.changes.append(DriftChange(kind, col, before, after, mode, breaking))


def decide_drift(known: TableSchema | None, observed: TableSchema, policy: DriftPolicy) -> DriftDecision:
    """Compare ``observed`` with ``known`` under ``policy``; never mutates, never reads storage."""
    if known is None:
        return DriftDecision("accept", (), observed.without_fits(), evolved=True)
    plan = _Plan({c.name: c for c in known}, [], set(), set(), set(), set())
    seen = {c.name for c in observed}
    for col in observed:
        before = known.get(col.name)
        if before is None:
            _decide_added(plan, col, policy.mode_for("new_columns", col.name))
        else:
            _decide_type(plan, before, col, policy)
            _decide_nullability(plan, before, col, policy.mode_for("nullability", col.name))
    for col in known:
        if col.name not in seen:
            _decide_removed(plan, col, policy.mode_for("removed_columns", col.name))
    order = diff_column_order(known.names, observed.names)
    if order is not None:
        plan.changes.append(_order_change(order, policy.column_order))
    baseline = TableSchema.of(plan.columns.values())
    outcome = _outcome(plan.changes)
    return DriftDecision(
        outcome=outcome,
        changes=tuple(plan.changes),
        baseline=baseline,
        evolved=baseline != known,
        drop_columns=frozenset(plan.drop),
        discard_rows_with_values_in=frozenset(plan.discard_with_values),
        discard_rows_on_cast_failure=frozenset(plan.discard_on_failure),
        null_on_cast_failure=frozenset(plan.null_on_failure),
        reason=_reason(outcome, plan.changes),
    )


def decide_header_drift(
    known: TableSchema | None, names: Sequence[str], policy: DriftPolicy
) -> DriftDecision:
    """The decision that the column names alone force, before any value is read.

    Only a ``reject`` is conclusive: added and missing columns do not depend on the values, and no
    later change can turn a reject into anything else (``_outcome``). Otherwise the rows must be read.
    An added column's type is unknown here (``after`` is None).
    """
    if known is None:
        return DriftDecision("accept", (), TableSchema.of(()), evolved=True)
    # Known columns stand in for themselves: no type or nullability change; new ones have no values.
    stand_in = TableSchema.of(known.get(name) or Column(name, "null") for name in names)
    decision = decide_drift(known, stand_in, policy)
    changes = [replace(c, after=None) if c.kind == "column_added" else c for c in decision.changes]
    return replace(decision, changes=tuple(changes), reason=_reason(decision.outcome, changes))


def _decide_added(plan: _Plan, col: Column, mode: DriftMode) -> None:
    plan.add("column_added", col.name, None, col.type, mode, breaking=mode in _BLOCKING)
    if mode == "evolve":
        plan.columns[col.name] = Column(col.name, col.type, nullable=True)  # older rows have no value
    elif mode == "discard_row":
        plan.discard_with_values.add(col.name)
        plan.drop.add(col.name)
    else:
        plan.drop.add(col.name)


def _decide_type(plan: _Plan, before: Column, col: Column, policy: DriftPolicy) -> None:
    kind = classify_type_change(before.type, col.type, col.fits)
    if kind is None:
        return
    mode = policy.type_mode(kind, col.name)
    if kind == "type_narrowed":
        # Values fit the known type: only a rule for this column and this kind can stop them.
        ruled = mode is not None
        plan.add(
            kind, col.name, before.type, col.type, mode or policy.type_changes, ruled and mode in _BLOCKING
        )
        return
    assert mode is not None  # only a narrowed type can be left unruled
    plan.add(kind, col.name, before.type, col.type, mode, breaking=mode in _BLOCKING)
    if mode == "evolve":
        current = plan.columns[col.name]
        plan.columns[col.name] = replace(current, type=widen(before.type, col.type))
    elif mode == "discard_row":
        plan.discard_on_failure.add(col.name)
    elif mode == "discard_value":
        plan.null_on_failure.add(col.name)
    # allow / warn: the known type stays; values that do not cast become quality failures.


def _decide_nullability(plan: _Plan, before: Column, col: Column, mode: DriftMode) -> None:
    if before.nullable or not col.nullable:
        return
    plan.add("nullability_relaxed", col.name, before.type, col.type, mode, breaking=mode in _BLOCKING)
    if mode == "evolve":
        plan.columns[col.name] = replace(plan.columns[col.name], nullable=True)


def _decide_removed(plan: _Plan, col: Column, mode: DriftMode) -> None:
    if mode not in _BLOCKING and mode != "evolve" and not col.nullable:
        # The column would load as null, which a NOT NULL column cannot hold.
        plan.add("column_removed", col.name, col.type, None, "fail", breaking=True)
        return
    plan.add("column_removed", col.name, col.type, None, mode, breaking=mode in _BLOCKING)
    if mode == "evolve" and not col.nullable:
        plan.columns[col.name] = replace(col, nullable=True)


def diff_column_order(known: Sequence[str], observed: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """The known and the observed order of the columns both have, when they differ; else None.

    Added and missing columns are their own changes: only the relative order of the shared columns
    counts, so a new column anywhere, or a missing one, is not a reorder by itself.
    """
    shared = set(known) & set(observed)
    before = [n for n in known if n in shared]
    after = [n for n in observed if n in shared]
    return None if before == after else (before, after)


def _order_change(order: tuple[list[str], list[str]], mode: ReportMode) -> DriftChange:
    before, after = order
    moved = next(b for a, b in zip(before, after, strict=True) if a != b)
    details = {"known_order": before, "observed_order": after}
    return DriftChange("column_order", moved, None, None, mode, breaking=False, details=details)


def decide_sheet_drift(
    known_sheets: Sequence[str] | None, sheets: Sequence[str], mode: ReportMode
) -> tuple[DriftChange, ...]:
    """Sheets added to or removed from a known workbook (never blocking: the file reads one sheet)."""
    if known_sheets is None:
        return ()
    added = [s for s in sheets if s not in known_sheets]
    removed = [s for s in known_sheets if s not in sheets]
    details = {"known_sheets": list(known_sheets), "sheets": list(sheets)}
    changes = [DriftChange("sheet_added", s, None, None, mode, False, details) for s in added]
    changes += [DriftChange("sheet_removed", s, None, None, mode, False, details) for s in removed]
    return tuple(changes)


def _outcome(changes: list[DriftChange]) -> Outcome:
    if any(c.breaking and c.mode in _REJECTING for c in changes):
        return "reject"
    if any(c.breaking and c.mode == "quarantine" for c in changes):
        return "quarantine"
    return "accept"


def _reason(outcome: Outcome, changes: list[DriftChange]) -> str:
    if outcome == "accept":
        return ""
    modes = _REJECTING if outcome == "reject" else frozenset({"quarantine"})
    blocking = [c for c in changes if c.breaking and c.mode in modes]
    listed = "; ".join(_describe(c) for c in blocking)
    if outcome == "reject":
        return (
            f"The file was rejected because of schema drift ({listed}): fix the file, or change the "
            f"dataset's drift policy and replay it."
        )
    return (
        f"The file is held for review because of schema drift ({listed}): approve the new schema "
        f"to load it, or reject it."
    )


def _describe(change: DriftChange) -> str:
    if change.kind == "column_added":
        return f"new column {change.column!r}" + (f" ({change.after})" if change.after else "")
    if change.kind == "column_removed":
        return f"column {change.column!r} is missing"
    if change.kind == "nullability_relaxed":
        return f"column {change.column!r} has empty values but is required"
    if change.kind == "type_narrowed":
        return f"column {change.column!r} narrowed from {change.before} to {change.after}"
    return f"column {change.column!r} changed from {change.before} to {change.after}"

"""A dataset's drift policy: one mode per kind of change, and per-column overrides (pure).

Parsed from a contract's ``meta.eventpulse.drift_policy`` (docs/SCHEMA_DRIFT.md, "Policies").
A per-column rule wins over the per-kind mode for that column; among a column's rules for a type
change, the rule for the exact kind (``type_widened``) wins over its ``type_changes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from eventpulse.errors import ContractError

DriftMode = Literal["allow", "warn", "evolve", "freeze", "fail", "discard_row", "discard_value", "quarantine"]
DRIFT_MODES: tuple[DriftMode, ...] = get_args(DriftMode)
ReportMode = Literal["allow", "warn"]
"""Modes of changes that never block a load (column order, sheets): reported, or reported as a warning."""
REPORT_MODES: tuple[ReportMode, ...] = get_args(ReportMode)

KIND_KEYS = ("new_columns", "removed_columns", "type_changes", "nullability")
"""The per-kind keys a single-mode policy sets all at once."""
REPORT_KEYS = ("column_order", "sheets")
COLUMN_RULE_KEYS = (
    "new_columns",
    "removed_columns",
    "type_changes",
    "type_widened",
    "type_incompatible",
    "type_narrowed",
    "nullability",
)
"""Keys of a per-column rule: a per-kind key, or one type change kind on its own."""
NARROWED_MODES: tuple[DriftMode, ...] = ("allow", "warn", "fail", "freeze", "quarantine")
"""A narrowed type loses nothing: it can be refused or held, but there is nothing to evolve or discard."""


@dataclass(frozen=True)
class DriftPolicy:
    new_columns: DriftMode = "evolve"
    removed_columns: DriftMode = "fail"
    type_changes: DriftMode = "fail"
    nullability: DriftMode = "warn"
    column_order: ReportMode = "warn"
    sheets: ReportMode = "warn"
    columns: Mapping[str, Mapping[str, DriftMode]] = field(default_factory=dict)
    """Per-column overrides: column name -> {rule key -> mode} (``COLUMN_RULE_KEYS``)."""

    @classmethod
    def from_meta(cls, value: str | Mapping[str, Any] | None) -> DriftPolicy:
        """Build a policy from a contract's ``meta``: one mode for every kind, or a mapping of kinds."""
        if value is None:
            return cls()
        if isinstance(value, str):
            mode = ensure_mode(value, "drift_policy")
            return cls(mode, mode, mode, mode)
        if not isinstance(value, Mapping):
            raise ContractError("drift_policy is neither a mode nor an object", hint="write {kind: mode}")
        keys = [*KIND_KEYS, *REPORT_KEYS, "columns"]
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise ContractError(f"unknown drift policy keys {unknown}", hint=f"valid keys: {', '.join(keys)}")
        kinds: dict[str, Any] = {k: ensure_mode(v, k) for k, v in value.items() if k in KIND_KEYS}
        kinds |= {k: _ensure_report_mode(v, k) for k, v in value.items() if k in REPORT_KEYS}
        return cls(**kinds, columns=_parse_column_rules(value.get("columns", {})))

    def mode_for(self, key: str, column: str) -> DriftMode:
        """The mode of a per-kind ``key`` (``new_columns``, ...) for one column."""
        rule = self.columns.get(column, {})
        found: DriftMode = rule.get(key) or getattr(self, key)
        return found

    def type_mode(self, kind: str, column: str) -> DriftMode | None:
        """The mode of a type change of ``kind`` in ``column``; None: a narrowed type nobody ruled on."""
        rule = self.columns.get(column, {})
        if kind == "type_narrowed":
            return rule.get(kind)
        return rule.get(kind) or rule.get("type_changes") or self.type_changes

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in (*KIND_KEYS, *REPORT_KEYS)}
        if self.columns:
            out["columns"] = {name: dict(rule) for name, rule in self.columns.items()}
        return out


def ensure_mode(value: object, key: str, modes: tuple[str, ...] = DRIFT_MODES) -> DriftMode:
    if not isinstance(value, str) or value not in modes:
        raise ContractError(
            f"drift policy {key}: unknown mode {value!r}", hint=f"valid modes: {', '.join(modes)}"
        )
    return cast(DriftMode, value)  # narrowed by the membership test above


def _ensure_report_mode(value: object, key: str) -> ReportMode:
    if value not in REPORT_MODES:
        raise ContractError(
            f"drift policy {key}: unknown mode {value!r}",
            hint=f"{key} changes never block a load; valid modes: {', '.join(REPORT_MODES)}",
        )
    return value


def _parse_column_rules(value: object) -> dict[str, dict[str, DriftMode]]:
    if not isinstance(value, Mapping):
        raise ContractError(
            "drift policy columns is not an object", hint='write {"amount": {"type_changes": "fail"}}'
        )
    rules: dict[str, dict[str, DriftMode]] = {}
    for name, rule in value.items():
        if not isinstance(rule, Mapping) or not rule:
            raise ContractError(
                f"drift policy columns.{name} is not an object of rules",
                hint=f'write {{"type_changes": "fail"}}; keys: {", ".join(COLUMN_RULE_KEYS)}',
            )
        unknown = sorted(set(rule) - set(COLUMN_RULE_KEYS))
        if unknown:
            raise ContractError(
                f"unknown drift policy keys {unknown} for column {name!r}",
                hint=f"valid keys: {', '.join(COLUMN_RULE_KEYS)}",
            )
        rules[str(name)] = {
            key: ensure_mode(
                mode, f"columns.{name}.{key}", NARROWED_MODES if key == "type_narrowed" else DRIFT_MODES
            )
            for key, mode in rule.items()
        }
    return rules

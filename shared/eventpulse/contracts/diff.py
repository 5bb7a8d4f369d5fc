"""What changed between two versions of a contract, in the words of the contract (pure).

Columns are matched by name, expectations by their type and the columns they name (an expectation on
``amount`` whose bounds moved is *changed*, not removed and added). Each change is one dict with a
``kind``, a ``path`` into the suite a person can find, and the values before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventpulse.contracts.expectation_types import COLUMN_KWARGS


def diff_suites(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Changes from ``before`` (None: no contract yet) to ``after``, columns first, then the rest."""
    old_ep = _eventpulse(before or {})
    new_ep = _eventpulse(after)
    changes: list[dict[str, Any]] = []
    changes += _columns(old_ep.get("columns") or {}, new_ep.get("columns") or {})
    for key in ("primary_key", "drift_policy", "sheet"):
        old, new = old_ep.get(key), new_ep.get(key)
        if _normal(old) != _normal(new):
            changes.append(
                {"kind": f"{key}_changed", "path": f"meta.eventpulse.{key}", "before": old, "after": new}
            )
    for key in sorted((set(old_ep) | set(new_ep)) - {"columns", "primary_key", "drift_policy", "sheet"}):
        if _normal(old_ep.get(key)) != _normal(new_ep.get(key)):
            changes.append(
                {
                    "kind": "setting_changed",
                    "path": f"meta.eventpulse.{key}",
                    "before": old_ep.get(key),
                    "after": new_ep.get(key),
                }
            )
    changes += _expectations(
        list((before or {}).get("expectations") or []), list(after.get("expectations") or [])
    )
    return changes


def _eventpulse(suite: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = suite.get("meta")
    ep = meta.get("eventpulse") if isinstance(meta, Mapping) else None
    return ep if isinstance(ep, Mapping) else {}


def _column_spec(value: Any) -> dict[str, Any]:
    spec = {"type": value} if isinstance(value, str) else dict(value or {})
    spec.setdefault("nullable", True)
    return spec


def _columns(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for name in new:
        path = f"meta.eventpulse.columns.{name}"
        after = _column_spec(new[name])
        if name not in old:
            changes.append({"kind": "column_added", "path": path, "column": name, "after": after})
            continue
        before = _column_spec(old[name])
        if before != after:
            fields = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            changes.append(
                {
                    "kind": "column_changed",
                    "path": path,
                    "column": name,
                    "fields": fields,
                    "before": before,
                    "after": after,
                }
            )
    for name in old:
        if name not in new:
            changes.append(
                {
                    "kind": "column_removed",
                    "path": f"meta.eventpulse.columns.{name}",
                    "column": name,
                    "before": _column_spec(old[name]),
                }
            )
    return changes


def expectation_key(item: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """An expectation's identity across versions: its type and the columns it names."""
    found = item.get("kwargs")
    kwargs: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    names: list[str] = []
    for key in COLUMN_KWARGS:
        value = kwargs.get(key)
        items = [value] if isinstance(value, str) else list(value or [])
        names.extend(str(v) for v in items if str(v) not in names)
    return str(item.get("type")), tuple(names)


def _expectations(old: list[Any], new: list[Any]) -> list[dict[str, Any]]:
    old_by_key = _by_key(old)
    new_by_key = _by_key(new)
    changes: list[dict[str, Any]] = []
    for key, (index, item) in new_by_key.items():
        path = f"expectations[{index}]"
        described = {"expectation_type": key[0], "columns": _named(key)}
        if key not in old_by_key:
            changes.append({"kind": "expectation_added", "path": path, **described, "after": item})
            continue
        before = old_by_key[key][1]
        if _normal(before) != _normal(item):
            fields = sorted(
                k for k in set(before) | set(item) if _normal(before.get(k)) != _normal(item.get(k))
            )
            changes.append(
                {
                    "kind": "expectation_changed",
                    "path": path,
                    **described,
                    "fields": fields,
                    "before": before,
                    "after": item,
                }
            )
    for key, (index, item) in old_by_key.items():
        if key not in new_by_key:
            changes.append(
                {
                    "kind": "expectation_removed",
                    "path": f"expectations[{index}] (before)",
                    "expectation_type": key[0],
                    "columns": _named(key),
                    "before": item,
                }
            )
    return changes


def _by_key(items: list[Any]) -> dict[tuple[str, tuple[str, ...]], tuple[int, Mapping[str, Any]]]:
    found: dict[tuple[str, tuple[str, ...]], tuple[int, Mapping[str, Any]]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        key = expectation_key(item)
        # Two expectations of one type on the same columns (rare): the second keeps its index in the key.
        while key in found:
            key = (key[0], (*key[1], f"#{index}"))
        found[key] = (index, item)
    return found


def _named(key: tuple[str, tuple[str, ...]]) -> list[str]:
    return [c for c in key[1] if not c.startswith("#")]


def _normal(value: Any) -> Any:
    """Compare JSON values by content: key order never counts as a change."""
    if isinstance(value, Mapping):
        return {k: _normal(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value

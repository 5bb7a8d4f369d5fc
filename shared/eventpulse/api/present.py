"""JSON shapes of API resources, and the JSON encoder: UUIDs as strings, datetimes ISO 8601 in UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask.json.provider import DefaultJSONProvider

ARTIFACT_SECTIONS = ("quality", "drift", "lineage")
_PRIVATE_ERROR_KEYS = frozenset({"traceback", "stack", "exc_info"})


def to_json_value(value: Any) -> Any:
    """A value the JSON encoder does not know, in its API form."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class ApiJSONProvider(DefaultJSONProvider):
    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        return to_json_value(o)


def present_ingestion(row: dict[str, Any]) -> dict[str, Any]:
    """An ingestion row for clients; a stored traceback (if any) stays on the server."""
    out = dict(row)
    if isinstance(out.get("error"), dict):
        out["error"] = {k: v for k, v in out["error"].items() if k not in _PRIVATE_ERROR_KEYS}
    return out


def present_ingestion_detail(row: dict[str, Any], artifacts: dict[str, Any]) -> dict[str, Any]:
    out = present_ingestion(row)
    for section in ARTIFACT_SECTIONS:
        out[section] = artifacts.get(section)
    out["artifacts"] = {k: v for k, v in artifacts.items() if k not in ARTIFACT_SECTIONS}
    return out

"""Query-string parsing with clear 400s: the message names the parameter and the hint the valid range."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from flask import request

from eventpulse.errors import BadRequest
from eventpulse.states import Status

MAX_PAGE = 500
MAX_FILTER_CHARS = 200


def int_arg(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise BadRequest(
            f"{name}={raw!r} is not valid",
            hint=f"{name} must be an integer from {minimum} to {maximum}",
            details={"parameter": name, "minimum": minimum, "maximum": maximum},
        )
    return value


def page_args(default_limit: int = 50) -> tuple[int, int]:
    """``limit`` (1..500) and ``offset`` (0..)."""
    limit = int_arg("limit", default_limit, minimum=1, maximum=MAX_PAGE)
    offset = int_arg("offset", 0, minimum=0, maximum=10**9)
    return limit, offset


def text_arg(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_FILTER_CHARS:
        raise BadRequest(f"{name} is longer than {MAX_FILTER_CHARS} characters", details={"parameter": name})
    return raw


def statuses_arg() -> list[str]:
    """``status`` may repeat and may be comma-separated; values are case-insensitive."""
    values = [part.strip().upper() for raw in request.args.getlist("status") for part in raw.split(",")]
    values = [v for v in values if v]
    valid = [s.value for s in Status]
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise BadRequest(
            f"unknown status {unknown[0]!r}",
            hint=f"valid statuses: {', '.join(valid)}",
            details={"parameter": "status", "valid": valid},
        )
    return sorted(set(values))


def parse_uuid(raw: str, what: str = "ingestion id") -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest(
            f"{what} {raw[:80]!r} is not a UUID",
            hint="ids look like 3f2b8c1e-5d4a-4f6e-9b7c-2a1d0e9f8c7b",
        ) from None


def page_body(items: Sequence[object], total: int, limit: int, offset: int) -> dict[str, object]:
    return {"items": list(items), "total": total, "limit": limit, "offset": offset}

"""What a user is told about an attempt that failed for a reason that is not the file's (pure).

A driver's error (the failing SQL, Postgres's source file and line, the exception's class) is for the
operator: it goes to the worker log, whose line carries the ingestion id. The ingestion's ``error``,
which the API, the CLI, the audit log and the lineage event show, is a sentence that says what failed
and what to do next.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventpulse.errors import EventPulseError
from eventpulse.states import Status

UNEXPECTED = "processing stopped unexpectedly"
MAX_CHAIN = 5
"""How many causes of a wrapped exception the log line names."""


def build_failure_error(exc: BaseException, ingestion_id: uuid.UUID, status: Status) -> dict[str, Any]:
    """``{"code", "message", "hint"}`` of a failed attempt; an EventPulse error keeps its own message."""
    if isinstance(exc, EventPulseError):
        error = exc.to_dict()
    else:
        error = {"code": "exception", "message": UNEXPECTED}
    error["hint"] = build_next_step(ingestion_id, status, own_hint=error.get("hint", ""))
    return error


def build_next_step(ingestion_id: uuid.UUID, status: Status, *, own_hint: str = "") -> str:
    """Retried or not, and where an operator finds the details."""
    where = f"an operator finds the details in the worker log under ingestion {ingestion_id}"
    if status is Status.FAILED_EXCEPTION:
        first = own_hint or "it is retried automatically"
        return f"{first}; if it keeps failing, {where}"
    return (
        f"no attempts are left; {where}. Once the cause is fixed, process the file again "
        f"(eventpulse replay {ingestion_id}, or POST /api/ingestions/{ingestion_id}/replay)"
    )


def describe_for_log(exc: BaseException) -> str:
    """``Type: text`` of the exception and each of its causes, for the operator's log line only."""
    parts: list[str] = []
    texts: set[str] = set()
    current: BaseException | None = exc
    while current is not None and len(parts) < MAX_CHAIN:
        if str(current) not in texts:  # drivers re-raise the same error as another class
            parts.append(f"{type(current).__name__}: {current}")
            texts.add(str(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " <- caused by ".join(parts)

"""What to tell someone whose file was already registered: the existing ingestion and the next step (pure).

A re-upload of the same bytes returns the first ingestion of them and queues nothing. When that
ingestion failed, silence would look like success: the API answer and ``eventpulse ingest`` say
which ingestion it is, its state, and how to process the bytes again.
"""

from __future__ import annotations

from typing import Any

from eventpulse.states import TERMINAL, Status

REPLAYABLE = (TERMINAL - {Status.LOADED}) | {Status.FAILED_EXCEPTION}


def describe_duplicate(row: dict[str, Any]) -> dict[str, Any]:
    """``{"message", "next_steps": [{"description", "route", "command"}]}`` for an existing ingestion."""
    ingestion_id, status = str(row["id"]), str(row["status"])
    sheet = f" (sheet {row['sheet']!r})" if row.get("sheet") else ""  # each sheet is its own ingestion
    dataset = row["dataset"]
    known = f"these bytes{sheet} were already registered for dataset {dataset!r} as ingestion {ingestion_id}"
    if status == Status.QUARANTINED:
        return _notice(
            f"{known}, which is QUARANTINED awaiting review of its new schema; nothing new was queued",
            _step("accept its schema and load it", "POST", ingestion_id, "approve"),
            _step("refuse its schema", "POST", ingestion_id, "reject"),
        )
    if status == Status.PARTIALLY_LOADED:
        return _notice(
            f"{known}, which is PARTIALLY_LOADED: {row.get('rows_quarantined') or 0} row(s) are held in the "
            "quarantine; nothing new was queued",
            {
                "description": "review the held rows, fix the contract and replay them",
                "route": f"GET /api/quarantine?ingestion_id={ingestion_id}",
                "command": f"eventpulse ingestions show {ingestion_id}",
            },
        )
    if status in REPLAYABLE:
        return _notice(
            f"{known}, which ended {status}; nothing new was queued. Fix the cause (see its error), "
            "then process the same bytes again as a new ingestion",
            _step("process the same raw bytes again", "POST", ingestion_id, "replay"),
        )
    if status == Status.LOADED:
        return _notice(f"{known}, which is already LOADED; nothing new was queued")
    return _notice(
        f"{known}, which is still {status}; nothing new was queued",
        {
            "description": "follow it until it ends",
            "route": f"GET /api/ingestions/{ingestion_id}",
            "command": f"eventpulse ingestions show {ingestion_id}",
        },
    )


def _notice(message: str, *steps: dict[str, str]) -> dict[str, Any]:
    return {"message": message, "next_steps": list(steps)}


def _step(description: str, method: str, ingestion_id: str, action: str) -> dict[str, str]:
    return {
        "description": description,
        "route": f"{method} /api/ingestions/{ingestion_id}/{action}",
        "command": f"eventpulse {action} {ingestion_id}",
    }

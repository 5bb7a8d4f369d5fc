"""What an operator does with held rows: discard them with a reason, or replay them after a fix.

Both act on held rows only (``status = held``), lock them for the transaction, and write one audit
event per ingestion whose rows they touched. A replay registers one new ingestion per original
ingestion over the same raw object (``replay_of`` = the original); its options name the held rows,
and the pipeline revalidates just those rows under the current contract (``pipeline/loading.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eventpulse.devices.binding import device_of_source
from eventpulse.errors import BadRequest, NotFound
from eventpulse.landing.register import enqueue
from eventpulse.pipeline.holding import REPLAY_OPTION
from eventpulse.ports import NewIngestion, QuarantineFilter, Row, Services, Transaction

MAX_ROWS_PER_ACTION = 10_000
"""Held rows one call acts on; ``remaining`` tells the caller to call again."""


@dataclass(frozen=True)
class ReplayRequest:
    rows: int
    remaining: int
    ingestions: list[Row]


def build_selection(
    *,
    ids: Sequence[int] | None,
    dataset: str | None,
    ingestion_id: str | None,
    expectation: str | None,
    device_id: str | None,
) -> QuarantineFilter:
    """The held rows an action names; BadRequest when it names none (an action never means "all")."""
    if not ids and not any((dataset, ingestion_id, expectation, device_id)):
        raise BadRequest(
            "name the rows to act on",
            hint="send ids, or at least one of dataset, ingestion_id, expectation, device_id",
        )
    key = None
    if ingestion_id:
        try:
            key = uuid.UUID(ingestion_id)
        except ValueError:
            raise BadRequest(
                f"ingestion_id {ingestion_id[:80]!r} is not a UUID",
                hint="use the id of an ingestion, e.g. from GET /api/quarantine",
                details={"parameter": "ingestion_id"},
            ) from None
    return QuarantineFilter(
        dataset=dataset.lower() if dataset else None,
        ingestion_id=key,
        expectation=expectation or None,
        device_id=device_id or None,
        ids=list(ids) if ids else None,
    )


def discard_rows(services: Services, where: QuarantineFilter, *, reason: str, actor: str) -> list[int]:
    """Mark the selected held rows discarded with ``reason``; their ids."""
    with services.store.transaction() as tx:
        rows = tx.quarantine.lock(replace(where, status="held"), limit=MAX_ROWS_PER_ACTION)
        ids = [int(r["id"]) for r in rows]
        tx.quarantine.resolve(ids, status="discarded", actor=actor, reason=reason)
        for ingestion_id, group in _by_ingestion(rows).items():
            tx.audit.record(
                actor=actor,
                action="quarantine.discarded",
                entity_type="ingestion",
                entity_id=str(ingestion_id),
                dataset=str(group[0]["dataset"]),
                details={"rows": len(group), "ids": [int(r["id"]) for r in group], "reason": reason},
            )
    return ids


def request_replay(services: Services, where: QuarantineFilter, *, actor: str) -> ReplayRequest:
    """Register one replay ingestion per original ingestion of the selected held rows, then queue them."""
    held = replace(where, status="held", kind="expectation")
    with services.store.transaction() as tx:
        rows = tx.quarantine.lock(held, limit=MAX_ROWS_PER_ACTION)
        remaining = tx.quarantine.count(held) - len(rows)
        created = [
            _register_replay(services, tx, key, group, actor) for key, group in _by_ingestion(rows).items()
        ]
    for row in created:
        enqueue(services, row["id"])
    return ReplayRequest(rows=len(rows), remaining=remaining, ingestions=created)


def _register_replay(
    services: Services, tx: Transaction, original_id: uuid.UUID, rows: list[Row], actor: str
) -> Row:
    original = tx.ingestions.get(original_id)
    if original is None:  # the foreign key makes this impossible while the rows exist
        raise NotFound(f"ingestion {original_id} does not exist")
    if not services.landing.exists(str(original["raw_key"])):
        raise NotFound(
            f"raw object {original['raw_key']!r} of ingestion {original_id} is missing",
            hint="it may have been pruned by the retention job; discard the rows or re-upload the file",
        )
    options: dict[str, Any] = dict(original.get("options") or {})
    options[REPLAY_OPTION] = {
        "ids": [int(r["id"]) for r in rows],
        "source_rows": [int(r["source_row"]) for r in rows],
    }
    sender = device_of_source(original.get("source"))
    if sender is not None:  # the replay binds rows to the device that sent them (replayed_sender)
        options[REPLAY_OPTION]["device_id"] = sender
    row, _ = tx.ingestions.register(
        NewIngestion(
            dataset=str(original["dataset"]),
            filename=str(original["filename"]),
            source="quarantine_replay",
            raw_key=str(original["raw_key"]),
            sha256=str(original["sha256"]),
            size_bytes=int(original["size_bytes"]),
            max_attempts=services.settings.max_attempts,
            created_by=actor,
            replay_of=original_id,
            options=options,
            sheet=str(original["sheet"]),
        )
    )
    tx.audit.record(
        actor=actor,
        action="quarantine.replay_requested",
        entity_type="ingestion",
        entity_id=str(original_id),
        dataset=str(original["dataset"]),
        details={"rows": len(rows), "replay_ingestion_id": str(row["id"])},
    )
    return row


def _by_ingestion(rows: Sequence[Row]) -> dict[uuid.UUID, list[Row]]:
    out: dict[uuid.UUID, list[Row]] = {}
    for row in rows:
        out.setdefault(uuid.UUID(str(row["ingestion_id"])), []).append(row)
    return out

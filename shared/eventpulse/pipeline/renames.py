"""Confirm a rename ("map as rename"): record it in the contract, then replay the file.

A file whose known column is missing and which brings a new one is a drop plus an add to every rule;
the drift artifact lists rename candidates with their evidence (``schema/renames.py``). Confirming one
saves the dataset's contract with ``meta.eventpulse.renames`` extended (``contracts/edit.py``), as a
new version audited with the actor, and replays the ingestion: the file's column is read as the known
column, so it keeps its history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.edit import with_rename
from eventpulse.contracts.registry import resolve_contract, save_contract
from eventpulse.errors import BadRequest, ContractError, NotFound
from eventpulse.landing.register import replay
from eventpulse.pipeline.baseline import known_schema
from eventpulse.schema.naming import normalize_column_names

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services


@dataclass(frozen=True)
class RenameConfirmed:
    contract_version: str
    previous_version: str | None
    replay: Row
    candidate: dict[str, Any] | None
    """The rename candidate the drift decision had reported for this pair, if any (its evidence)."""


def confirm_rename(
    services: Services,
    ingestion_id: uuid.UUID,
    *,
    file_column: str,
    column: str,
    actor: str,
    note: str | None = None,
) -> RenameConfirmed:
    """Map ``file_column`` of the ingestion's file to the known ``column``, then replay the file.

    Raises NotFound for an unknown ingestion, BadRequest when the file has no such column (the names
    are those of the file's header, as EventPulse normalised them), ContractError (422) when the
    edited contract does not validate.
    """
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
        if row is None:
            raise NotFound(
                f"ingestion {ingestion_id} does not exist", hint="list ingestions with GET /api/ingestions"
            )
        drift = tx.ingestions.artifacts(ingestion_id).get("drift") or {}
    dataset = str(row["dataset"])
    names = [str(c["name"]) for c in (drift.get("observed_schema") or {}).get("columns", [])]
    wanted = normalize_column_names([file_column])[0]
    if wanted not in names:
        raise BadRequest(
            f"the file of ingestion {ingestion_id} has no column {file_column!r}",
            hint=f"its columns: {', '.join(names) or 'unknown (the file was not read)'}",
            details={"parameter": "from", "columns": names},
        )
    candidate = next(
        (
            c
            for c in drift.get("rename_candidates") or []
            if c.get("observed") == wanted and c.get("known") == column
        ),
        None,
    )
    current = resolve_contract(services, dataset)
    with services.store.read() as tx:
        history = tx.schemas.latest(dataset)
    known = known_schema(current, history[1] if history else None).names
    if column not in known:
        raise ContractError(
            f"dataset {dataset!r} has no column {column!r} to map {wanted!r} to",
            hint=f"map it to a column the contract declares or the history knows: {', '.join(known)}",
            details={"parameter": "to", "key": "meta.eventpulse.renames", "known_columns": list(known)},
        )
    saved = save_contract(
        services,
        dataset,
        with_rename(current.suite, wanted, column),
        base_version=current.version,
        actor=actor,
        note=note or f"map {wanted!r} as a rename of {column!r} (ingestion {ingestion_id})",
    )
    replayed = replay(services, ingestion_id, actor=actor)
    with services.store.read() as tx:
        fresh = tx.ingestions.get(uuid.UUID(str(replayed["id"])))
    return RenameConfirmed(saved.record.version, saved.previous_version, fresh or replayed, candidate)

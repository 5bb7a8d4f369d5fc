"""An operator's decision on a QUARANTINED ingestion: approve its new schema, or reject the file.

Approving appends the evolved schema to the dataset's history (evolved from the current history, so
columns accepted while the file was held are kept), brings the curated table to it and puts the
ingestion back to RECEIVED in one transaction, then enqueues it: the re-run reads the new baseline.
Rejecting ends it REJECTED. Both are compare-and-set and audited with their actor.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

from eventpulse.contracts.registry import resolve_contract
from eventpulse.curate.ddl import curated_table_name
from eventpulse.errors import BadRequest, Conflict, NotFound
from eventpulse.landing.register import enqueue
from eventpulse.pipeline.baseline import known_schema
from eventpulse.pipeline.loading import ensure_curated_table
from eventpulse.schema.drift import DriftPolicy, decide_drift
from eventpulse.schema.model import TableSchema
from eventpulse.states import Status

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services, Transaction

Decision = Literal["approve", "reject"]

ACCEPT_ALL = DriftPolicy.from_meta("evolve")
"""Approving a schema means evolving into it: added columns nullable, types widened, nulls allowed."""

MAX_NOTE_CHARS = 2000


def approve_schema(
    services: Services, ingestion_id: uuid.UUID, *, actor: str, note: str | None = None
) -> Row:
    """Accept the held file's schema as the dataset's new baseline and process the file again.

    Raises NotFound for an unknown id, Conflict when it is not QUARANTINED or when the new baseline
    still would not let the file through (a column removed under a ``quarantine`` policy).
    """
    note = ensure_note(note)
    with services.store.read() as tx:
        found = tx.ingestions.get(ingestion_id)
    contract = resolve_contract(services, str(found["dataset"])) if found is not None else None
    with services.store.transaction() as tx:
        row = _lock_quarantined(tx, ingestion_id, "approve")
        dataset = str(row["dataset"])
        observed = _observed_schema(tx, ingestion_id)
        assert contract is not None  # the ingestion exists: _lock_quarantined raised otherwise
        # The dataset lock serialises schema writers: loads of this dataset wait until we commit.
        dataset_row = tx.schemas.lock_dataset(dataset, curated_table_name(dataset))
        # Read under the dataset lock: the approved baseline evolves from the CURRENT history, so it
        # keeps every column accepted since the file was held (the held drift artifact is older).
        history = tx.schemas.latest(dataset)
        known = known_schema(contract, history[1] if history else None)
        baseline = decide_drift(known, observed, ACCEPT_ALL).baseline
        after = decide_drift(known_schema(contract, baseline), observed, contract.drift_policy)
        if after.outcome != "accept":
            raise Conflict(
                f"approving cannot release ingestion {ingestion_id}: {after.reason}",
                hint=f"reject it, or change drift_policy in contracts/{dataset}.json and replay the file",
                details={"status": row["status"]},
            )
        version = None
        if history is None or history[1] != baseline:
            version = tx.schemas.append(
                dataset=dataset,
                schema=baseline,
                contract_version=contract.version,
                ingestion_id=ingestion_id,
                reason=f"approved by {actor}",
                actor=actor,
            )
        # The table follows the history now, not at the re-run's commit: if the re-run fails its gate,
        # the approved columns stay, and the history and the table still agree.
        ensure_curated_table(tx, dataset_row, baseline, contract)
        _move(
            tx,
            row,
            Status.RECEIVED,
            actor,
            note,
            # An operator's decision is a fresh start: the held run must not use up the retry budget.
            max_attempts=int(row["attempts"]) + services.settings.max_attempts,
            claimed_by=None,
            heartbeat_at=None,
            enqueued_at=None,
            error=None,
            finished_at=None,
        )
        _audit(tx, row, "schema.approved", actor, note, version=version, fingerprint=baseline.fingerprint())
    enqueue(services, ingestion_id)
    return _reload(services, ingestion_id)


def reject_schema(services: Services, ingestion_id: uuid.UUID, *, actor: str, note: str | None = None) -> Row:
    """Refuse the held file's schema: the ingestion ends REJECTED and the baseline stays as it was."""
    note = ensure_note(note)
    with services.store.transaction() as tx:
        row = _lock_quarantined(tx, ingestion_id, "reject")
        error = {
            "code": "schema_rejected",
            "message": f"the file's new schema was rejected by {actor}" + (f": {note}" if note else ""),
            "hint": "fix the file and upload it again",
        }
        _move(tx, row, Status.REJECTED, actor, note, error=error, finished=True)
        _audit(tx, row, "schema.rejected", actor, note)
    return _reload(services, ingestion_id)


def ensure_note(note: object) -> str | None:
    """A note is optional free text of at most MAX_NOTE_CHARS characters; blank means none."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise BadRequest("note must be a string", hint='send {"note": "why"} or no body at all')
    if len(note) > MAX_NOTE_CHARS:
        raise BadRequest(f"note is longer than {MAX_NOTE_CHARS} characters", hint="shorten it")
    return note.strip() or None


def _lock_quarantined(tx: Transaction, ingestion_id: uuid.UUID, decision: Decision) -> Row:
    row = tx.ingestions.lock(ingestion_id)
    if row is None:
        raise NotFound(f"ingestion {ingestion_id} does not exist")
    if row["status"] != Status.QUARANTINED:
        raise Conflict(
            f"ingestion {ingestion_id} cannot be {decision}d: it is {row['status']}, not QUARANTINED",
            hint=f"only a QUARANTINED ingestion awaits a decision; ingestion {ingestion_id} is "
            f"{row['status']} now (GET /api/ingestions/{ingestion_id} shows its history)",
            details={"status": row["status"]},
        )
    return row


def _observed_schema(tx: Transaction, ingestion_id: uuid.UUID) -> TableSchema:
    drift = tx.ingestions.artifacts(ingestion_id).get("drift")
    if not isinstance(drift, dict) or "observed_schema" not in drift:
        raise Conflict(
            f"ingestion {ingestion_id} has no drift record to approve",
            hint="replay the file to record its schema again",
        )
    return TableSchema.from_dict(drift["observed_schema"])


def _move(tx: Transaction, row: Row, target: Status, actor: str, note: str | None, **fields: Any) -> None:
    details = {"note": note} if note else {}
    moved = tx.ingestions.transition(
        row["id"], expected=[Status.QUARANTINED], target=target, actor=actor, details=details, **fields
    )
    if moved is None:  # unreachable while we hold the row lock; kept as the compare-and-set guard
        raise Conflict(f"ingestion {row['id']} changed state meanwhile", hint="reload it and decide again")


def _audit(tx: Transaction, row: Row, action: str, actor: str, note: str | None, **details: Any) -> None:
    tx.audit.record(
        actor=actor,
        action=action,
        entity_type="ingestion",
        entity_id=str(row["id"]),
        dataset=row["dataset"],
        details={**({"note": note} if note else {}), **{k: v for k, v in details.items() if v is not None}},
    )


def _reload(services: Services, ingestion_id: uuid.UUID) -> Row:
    # The inline queue may already have processed the approved file: answer with its current state.
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None  # ingestions are never deleted
    return row

"""Registration: land the exact bytes, record the ingestion, hand it to the queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from eventpulse.errors import NotFound
from eventpulse.landing.intake import (
    clean_filename,
    ensure_allowed_extension,
    ensure_valid_contract,
)
from eventpulse.landing.sheets import decide_sheet
from eventpulse.logs import bind_context, log_scope
from eventpulse.ports import NewIngestion, Row
from eventpulse.schema.naming import ensure_dataset_name

if TYPE_CHECKING:
    from eventpulse.contracts.model import Contract
    from eventpulse.ports import Services, Transaction

StreamCheck = Callable[["Contract", BinaryIO], BinaryIO]
"""Inspects the start of a stream before it is landed; returns the stream to land (the same bytes)."""

DEDUPLICATED = "ingestion.deduplicated"


@dataclass(frozen=True)
class Registration:
    ingestion: Row
    deduplicated: bool
    """True when the same bytes (and sheet) were already registered for this dataset (nothing was queued)."""


@log_scope
def register_stream(
    services: Services,
    *,
    dataset: str,
    filename: str,
    source: str,
    stream: BinaryIO,
    actor: str,
    options: Mapping[str, Any] | None = None,
    max_bytes: int | None = None,
    before_landing: StreamCheck | None = None,
) -> Registration:
    """Validate, land the bytes (streamed), register the ingestion and enqueue it when new.

    ``before_landing`` may refuse the stream (by raising) once the contract is known: then nothing
    is landed or registered.
    """
    dataset = ensure_dataset_name(dataset or "")
    bind_context(dataset=dataset)
    filename = clean_filename(filename)
    ensure_allowed_extension(services, filename)
    contract = ensure_valid_contract(services, dataset)
    sheet = decide_sheet(filename, options, contract.sheet)  # before landing: a bad sheet is a 400
    source = (source or "api")[:100]
    if before_landing is not None:
        stream = before_landing(contract, stream)
    raw = services.landing.put_stream(dataset, filename, stream, max_bytes=max_bytes, source=source)
    new = NewIngestion(
        dataset=dataset,
        filename=filename,
        source=source,
        raw_key=raw.key,
        sha256=raw.sha256,
        size_bytes=raw.size_bytes,
        max_attempts=services.settings.max_attempts,
        created_by=actor,
        options=sheet.options,
        sheet=sheet.key,
    )
    with services.store.transaction() as tx:
        row, created = register_delivery(tx, new)
    bind_context(ingestion_id=str(row["id"]))
    if created:
        services.queue.enqueue(row["id"])
    return Registration(ingestion=row, deduplicated=not created)


def register_delivery(tx: Transaction, new: NewIngestion) -> tuple[Row, bool]:
    """Register a delivered file; a repeat of known bytes (and sheet) is audited on the existing ingestion.

    A new ingestion's hand-over is remembered in the same transaction (``enqueued_at``), so the
    caller hands it to the queue after the commit, as ``enqueue`` does, at the cost of one commit.
    """
    row, created = tx.ingestions.register(new)
    if created:
        row = {**row, "enqueued_at": tx.ingestions.mark_enqueued(row["id"])}
    else:
        tx.audit.record(
            actor=new.created_by,
            action=DEDUPLICATED,
            entity_type="ingestion",
            entity_id=str(row["id"]),
            dataset=new.dataset,
            details={
                "filename": new.filename,
                "source": new.source,
                "size_bytes": new.size_bytes,
                "status": row["status"],
            },
        )
    return row, created


def register_path(
    services: Services, *, path: Path, dataset: str, source: str, actor: str, filename: str | None = None
) -> Registration:
    with open(path, "rb") as stream:
        return register_stream(
            services,
            dataset=dataset,
            filename=filename or path.name,
            source=source,
            stream=stream,
            actor=actor,
        )


def enqueue(services: Services, ingestion_id: uuid.UUID) -> None:
    """Remember the hand-over, then hand over; a lost delivery is re-delivered by reclaim."""
    with services.store.transaction() as tx:
        tx.ingestions.mark_enqueued(ingestion_id)
    services.queue.enqueue(ingestion_id)


def replay(services: Services, ingestion_id: uuid.UUID, *, actor: str) -> Row:
    """A new ingestion over the same raw object; the original is left as it was."""
    with services.store.transaction() as tx:
        original = tx.ingestions.get(ingestion_id)
        if original is None:
            raise NotFound(f"ingestion {ingestion_id} does not exist")
        if not services.landing.exists(original["raw_key"]):
            raise NotFound(
                f"raw object {original['raw_key']!r} of ingestion {ingestion_id} is missing",
                hint="it may have been pruned by the retention job; re-upload the file",
            )
        row, _ = tx.ingestions.register(
            NewIngestion(
                dataset=original["dataset"],
                filename=original["filename"],
                source="replay",
                raw_key=original["raw_key"],
                sha256=original["sha256"],
                size_bytes=original["size_bytes"],
                max_attempts=services.settings.max_attempts,
                created_by=actor,
                replay_of=original["replay_of"] or original["id"],
                options=original["options"],  # the same sheet and encoding as the original
                sheet=original["sheet"],
            ),
        )
    enqueue(services, row["id"])
    return row

"""GCS object-finalize events and backfills: register a new object once, whatever the deliveries.

Two kinds of object count (everything else in the bucket is acknowledged and ignored):

- ``<raw_prefix><dataset>/<sha256><ext>``: a raw object. EventPulse's own uploads land here, and so
  do signed-URL uploads that declared their sha256. The bytes are hashed before registration: a
  declared hash is a claim, and an object whose bytes do not match its name is rejected and deleted
  (that generation only) so it cannot squat on the content address of the real file.
- ``uploads/<dataset>/<token><ext>``: a signed-URL upload that declared no hash. Its name cannot be a
  content address, so EventPulse hashes it, copies it server-side (create-only) to its raw name and
  registers that. The staging object is left for a lifecycle rule on ``uploads/`` (never on raw).

Idempotency: ``source_objects`` remembers each (bucket, name, generation) with what it became, and a
raw name already registered by the API is found through ``ingestions.raw_key``; either way a
redelivered event costs one indexed query and no download. Concurrent first deliveries both hash, and
the unique (dataset, sha256, sheet) index lets exactly one of them create the ingestion and enqueue it
(an event names no sheet: a workbook's is the contract's, else its first).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from eventpulse.errors import EventPulseError, NotFound, TerminalError
from eventpulse.landing.bucket import UPLOADS_PREFIX, require_gcs_landing
from eventpulse.landing.intake import clean_filename, ensure_allowed_extension, ensure_valid_contract
from eventpulse.landing.keys import encode_metadata_filename
from eventpulse.landing.register import Registration, register_delivery
from eventpulse.landing.sheets import decide_sheet
from eventpulse.ports import BucketLanding, NewIngestion, StoredObject
from eventpulse.schema.naming import ensure_dataset_name

if TYPE_CHECKING:
    from eventpulse.ports import Services

log = logging.getLogger(__name__)

FINALIZE_ACTOR = "gcs_finalize"
FinalizeStatus = Literal["registered", "duplicate", "ignored", "rejected"]

_RAW_KEY = re.compile(
    r"^(?P<dataset>[a-z][a-z0-9_]{0,62})/(?P<sha256>[0-9a-f]{64})(?P<ext>\.[a-z0-9]{1,10})?$"
)
_UPLOAD_KEY = re.compile(r"^(?P<dataset>[a-z][a-z0-9_]{0,62})/[0-9a-f]{32}(?P<ext>\.[a-z0-9]{1,10})?$")


@dataclass(frozen=True)
class FinalizeResult:
    status: FinalizeStatus
    """registered: a new ingestion was queued; duplicate: these bytes or this event were seen before;
    ignored: not an object EventPulse ingests; rejected: refused for a reason (bytes, dataset, name)."""
    ingestion_id: uuid.UUID | None = None
    reason: str | None = None


class ObjectRejected(TerminalError):
    """An object cannot be ingested as it is; the message says why."""

    code = "object_rejected"
    http_status = 422


BACKFILL_SOURCE = "gcs_backfill"
"""The source of an object registered by a backfill (``POST /api/ingest/from_gcs``)."""


def handle_finalize(
    services: Services,
    *,
    bucket: str,
    name: str,
    generation: int | str,
    metadata: Mapping[str, str] | None,
    size: int | None,
) -> FinalizeResult:
    """Register the object of one finalize event, at most once per (bucket, name, generation)."""
    landing = require_gcs_landing(services)
    kind = _kind_of(landing, bucket, name)
    if kind is None:
        return FinalizeResult("ignored", reason=_ignored_reason(landing, bucket, name))
    generation = int(generation)
    with services.store.read() as tx:
        seen = tx.sources.find(bucket=bucket, name=name, generation=generation)
    if seen is not None:
        status: FinalizeStatus = "rejected" if seen.outcome == "rejected" else "duplicate"
        return FinalizeResult(status, seen.ingestion_id, seen.reason or "this object was already handled")
    limit = services.settings.upload_max_bytes
    if size is not None and size > limit:
        return FinalizeResult("rejected", reason=f"{name!r} is {size} bytes, over the {limit}-byte limit")
    obj = landing.stat(name)
    if obj is None or obj.generation != generation:
        # Superseded or deleted since the event: the event of the live generation (if any) handles it.
        return FinalizeResult("ignored", reason=f"generation {generation} of {name!r} is no longer live")
    try:
        registration = _land_object(
            services, landing, obj, kind=kind, metadata=obj.metadata, actor=FINALIZE_ACTOR, source=None
        )
    except ObjectRejected as exc:
        _reject(services, landing, obj, kind, exc)
        return FinalizeResult("rejected", reason=exc.message)
    status = "duplicate" if registration.deduplicated else "registered"
    return FinalizeResult(status, registration.ingestion["id"], None)


def register_existing_object(
    services: Services,
    *,
    bucket: str,
    name: str,
    actor: str,
    dataset: str | None = None,
    filename: str | None = None,
    source: str = BACKFILL_SOURCE,
) -> Registration:
    """Register an object that is already in storage (backfills: ``POST /api/ingest/from_gcs``).

    ``source`` is the ingestion's source (a device's finalize passes ``device:<id>``).

    Any object the service account can read: it is hashed, copied create-only to its raw name when it
    is not there already, and registered like an upload. Raises EventPulseError subclasses.
    """
    landing = require_gcs_landing(services)
    obj = landing.stat(name, bucket=bucket)
    if obj is None:
        raise NotFound(f"object gs://{bucket}/{name} does not exist", hint="check the bucket and object name")
    kind = _kind_of(landing, bucket, name) or "other"
    metadata = dict(obj.metadata)
    if dataset:
        metadata["dataset"] = dataset
    if filename:
        metadata["filename"] = filename
    return _land_object(services, landing, obj, kind=kind, metadata=metadata, actor=actor, source=source)


# --- the shared path ------------------------------------------------------------------------------

ObjectKind = Literal["raw", "upload", "other"]


def _kind_of(landing: BucketLanding, bucket: str, name: str) -> ObjectKind | None:
    if bucket != landing.bucket_name:
        return None
    if name.startswith(UPLOADS_PREFIX) and _UPLOAD_KEY.match(name[len(UPLOADS_PREFIX) :]):
        return "upload"
    if name.startswith(landing.raw_prefix) and _RAW_KEY.match(name[len(landing.raw_prefix) :]):
        return "raw"
    return None


def _ignored_reason(landing: BucketLanding, bucket: str, name: str) -> str:
    if bucket != landing.bucket_name:
        return f"bucket {bucket!r} is not the landing bucket {landing.bucket_name!r}"
    return f"{name!r} is neither a raw object ({landing.raw_prefix}<dataset>/<sha256>.<ext>) nor an upload"


def _land_object(
    services: Services,
    landing: BucketLanding,
    obj: StoredObject,
    *,
    kind: ObjectKind,
    metadata: Mapping[str, str],
    actor: str,
    source: str | None,
) -> Registration:
    """Validate, hash (verifying any declared sha256), copy to the raw name if needed, register, enqueue."""
    key = _RAW_KEY.match(obj.name[len(landing.raw_prefix) :]) if kind == "raw" else None
    dataset, filename, contract_sheet = _identify(
        services, obj, metadata, key_dataset=key["dataset"] if key else None
    )
    declared = (metadata.get("sha256") or "").strip().lower() or None
    if key and declared and declared != key["sha256"]:
        raise ObjectRejected(f"metadata sha256 {declared} differs from the sha256 in the name {obj.name!r}")
    declared = declared or (key["sha256"] if key else None)
    sha256, size = landing.hash_object(obj, max_bytes=services.settings.upload_max_bytes)
    if declared and sha256 != declared:
        raise ObjectRejected(
            f"object {obj.name!r} was declared with sha256 {declared} but its bytes hash to {sha256}",
            hint="the upload was corrupted or the declared hash is wrong; upload the file again",
            details={"sha256_mismatch": True, "declared": declared, "actual": sha256},
        )
    raw_name = landing.object_name(dataset, sha256, filename)
    source = (source or metadata.get("source") or "gcs")[:100]
    if obj.bucket != landing.bucket_name or obj.name != raw_name:
        landing.copy_create_only(
            obj,
            raw_name,
            {
                "dataset": dataset,
                "source": source,
                "sha256": sha256,
                "filename": encode_metadata_filename(filename),
            },
        )
    sheet = decide_sheet(filename, None, contract_sheet)  # an event names no sheet: the contract's
    new = NewIngestion(
        dataset=dataset,
        filename=filename,
        source=source,
        raw_key=raw_name,
        sha256=sha256,
        size_bytes=size,
        max_attempts=services.settings.max_attempts,
        created_by=actor,
        options=sheet.options,
        sheet=sheet.key,
    )
    with services.store.transaction() as tx:
        row, created = register_delivery(tx, new)
        tx.sources.record(
            bucket=obj.bucket,
            name=obj.name,
            generation=obj.generation,
            outcome="registered" if created else "duplicate",
            ingestion_id=row["id"],
            sha256=sha256,
        )
    if created:
        services.queue.enqueue(row["id"])  # its hand-over was remembered with the registration
    return Registration(ingestion=row, deduplicated=not created)


def _identify(
    services: Services, obj: StoredObject, metadata: Mapping[str, str], *, key_dataset: str | None
) -> tuple[str, str, str | int | None]:
    """(dataset, filename, the contract's sheet) from the metadata and the name, validated like an upload."""
    from urllib.parse import unquote

    claimed = metadata.get("dataset")
    if key_dataset and claimed and claimed.strip().lower() != key_dataset:
        raise ObjectRejected(
            f"metadata dataset {claimed!r} differs from {key_dataset!r} in the name {obj.name!r}"
        )
    name_dataset = obj.name.split("/")[1] if obj.name.startswith(UPLOADS_PREFIX) else None
    raw_dataset = key_dataset or claimed or name_dataset
    if not raw_dataset:
        raise ObjectRejected(
            f"object {obj.name!r} names no dataset", hint="set its 'dataset' metadata, or pass dataset"
        )
    raw_filename = metadata.get("filename")
    try:
        dataset = ensure_dataset_name(raw_dataset)
        filename = clean_filename(unquote(raw_filename) if raw_filename else obj.name.rsplit("/", 1)[-1])
        ensure_allowed_extension(services, filename)
        contract = ensure_valid_contract(services, dataset)
    except EventPulseError as exc:
        if exc.retryable:
            raise
        raise ObjectRejected(exc.message, hint=exc.hint) from None
    return dataset, filename, contract.sheet


def _reject(
    services: Services, landing: BucketLanding, obj: StoredObject, kind: ObjectKind, exc: ObjectRejected
) -> None:
    """Record the refusal (so redeliveries are cheap) and audit it; free a squatted raw name."""
    # Bytes that do not match their raw name would squat on the content address of the real file
    # (create-only would refuse it forever): delete exactly that generation. Nothing was registered.
    squatting = kind == "raw" and bool(exc.details.get("sha256_mismatch"))
    deleted = squatting and landing.delete_generation(obj)
    with services.store.transaction() as tx:
        tx.sources.record(
            bucket=obj.bucket,
            name=obj.name,
            generation=obj.generation,
            outcome="rejected",
            reason=exc.message,
        )
        tx.audit.record(
            actor=FINALIZE_ACTOR,
            action="object.rejected",
            entity_type="object",
            entity_id=f"gs://{obj.bucket}/{obj.name}#{obj.generation}",
            dataset=obj.metadata.get("dataset"),
            details={"reason": exc.message, "deleted": deleted},
        )
    log.warning("rejected gs://%s/%s#%d: %s", obj.bucket, obj.name, obj.generation, exc.message)

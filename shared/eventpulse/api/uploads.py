"""Dashboard uploads: mint a signed PUT URL, finalize it, and backfill an object already in the bucket.

``POST /api/uploads/signed_url`` is the ``signed_url`` function's minting (``cloud/signed_url.py``)
for an operator token; the browser PUTs the file to it and then calls ``POST /api/uploads/finalize``
with the ``object_name``, which registers that object at once (as the edge agent's
``/api/edge/ingest/from_gcs`` does). In the cloud the bucket's finalize event registers it too: both
paths give one ingestion. ``POST /api/uploads/backfill`` is ``POST /api/ingest/from_gcs`` (the task
token's route) for an operator token. All three need the GCS landing: on the filesystem landing they
answer 400 saying so and what to set.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify
from pydantic import ConfigDict, Field

from eventpulse.api.auth import current_actor
from eventpulse.api.backfill import register_backfill
from eventpulse.api.context import current_services
from eventpulse.api.edge_uploads import EdgeSigned
from eventpulse.api.ingest import REGISTERED, ensure_intake_open, registration_body
from eventpulse.api.operations import Operations
from eventpulse.api.params import Body, FromGcsBody
from eventpulse.api.present import present_ingestion
from eventpulse.api.roles import OPERATOR
from eventpulse.errors import NotFound
from eventpulse.landing.bucket import UPLOADS_PREFIX, require_gcs_landing

if TYPE_CHECKING:
    from eventpulse.ports import Services

bp = Operations("uploads", __name__, url_prefix="/api/uploads")

DASHBOARD_SOURCE = "dashboard_signed_url"
"""The source signed into the metadata of every object ``/api/uploads/signed_url`` mints a URL for."""
_UPLOAD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}/[0-9a-f]{32}(\.[a-z0-9]{1,10})?$")
_RAW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}/[0-9a-f]{64}(\.[a-z0-9]{1,10})?$")


class SignedUrlBody(Body):
    dataset: str = Field(max_length=200, description="the dataset the file belongs to")
    filename: str = Field(max_length=255, description="the file's name (its extension picks the reader)")
    sha256: str | None = Field(None, max_length=64, description="hex sha256 of the bytes, if known")
    content_type: str | None = Field(None, max_length=200, description="the Content-Type the PUT sends")
    header: str | None = Field(
        None, max_length=64 * 1024, description="a CSV file's first line: checked against the drift policy"
    )


class FinalizeBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    object_name: str = Field(min_length=1, max_length=400, description="object_name from signed_url")


class SignedUpload(EdgeSigned):
    """A create-only signed PUT into the landing bucket, with the check of the header it declared."""

    header_check: dict[str, object] | None = None


@bp.operation(
    "POST",
    "/signed_url",
    access=OPERATOR,
    returns={201: SignedUpload},
    errors=(400, 404, 415, 422),
    body=SignedUrlBody,
)
def signed_url(body: SignedUrlBody) -> tuple[Response, int]:
    """A create-only signed PUT into the landing bucket; register the PUT object with finalize."""
    from eventpulse.cloud.signed_url import mint_upload_url

    minted = mint_upload_url(
        current_services(),
        dataset=body.dataset,
        filename=body.filename,
        sha256=body.sha256,
        content_type=body.content_type,
        source=DASHBOARD_SOURCE,
        header=body.header,
    )
    return jsonify(minted), 201


@bp.operation(
    "POST",
    "/finalize",
    access=OPERATOR,
    returns=REGISTERED,
    errors=(400, 404, 415, 422, 429),
    body=FinalizeBody,
)
def finalize(body: FinalizeBody) -> tuple[Response, int]:
    """Register an object PUT to a signed_url URL, with source dashboard_signed_url; 202 new, 200 known.

    202 also when this very object was registered before (by the bucket's finalize event, or an
    earlier call); 200 when other objects brought these bytes first. Only an object signed_url
    minted counts (its name, and its signed source): any other is 404, whether or not it exists.
    Use backfill for any other object.
    """
    services = current_services()
    landing = require_gcs_landing(services)
    name = body.object_name
    missing = NotFound(
        f"no signed-URL upload {name[:400]!r} in gs://{landing.bucket_name}",
        hint="send the object_name signed_url answered, after its PUT succeeded; "
        "register any other object with POST /api/uploads/backfill",
    )
    if not (_is_name(name, UPLOADS_PREFIX, _UPLOAD_NAME) or _is_name(name, landing.raw_prefix, _RAW_NAME)):
        raise missing
    obj = landing.stat(name)
    if obj is None or obj.metadata.get("source") != DASHBOARD_SOURCE:
        raise missing
    own = load_own_registration(services, landing.bucket_name, name, obj.generation)
    if own is not None:  # the finalize event (or an earlier call) registered this very upload
        return jsonify(own), 202
    ensure_intake_open(services, DASHBOARD_SOURCE)
    from eventpulse.landing.objects import register_existing_object  # its adapters load on first use

    registration = register_existing_object(
        services, bucket=landing.bucket_name, name=name, actor=current_actor(), source=DASHBOARD_SOURCE
    )
    answer, status = registration_body(services, registration)
    return jsonify(answer), status


def load_own_registration(
    services: Services, bucket: str, name: str, generation: int
) -> dict[str, Any] | None:
    """The ingestion this object generation itself became, as a new registration; None: not registered.

    In the cloud the bucket's finalize event races the browser's finalize: whichever comes second is
    told of the same upload's ingestion, not that "these bytes were already registered".
    """
    with services.store.read() as tx:
        seen = tx.sources.find(bucket=bucket, name=name, generation=generation)
        if seen is None or seen.outcome != "registered" or seen.ingestion_id is None:
            return None
        row = tx.ingestions.get(seen.ingestion_id)
    return None if row is None else {**present_ingestion(row), "deduplicated": False}


def _is_name(name: str, prefix: str, shape: re.Pattern[str]) -> bool:
    return name.startswith(prefix) and shape.match(name[len(prefix) :]) is not None


@bp.operation(
    "POST",
    "/backfill",
    access=OPERATOR,
    returns=REGISTERED,
    errors=(400, 404, 415, 422, 429),
    body=FromGcsBody,
)
def backfill(body: FromGcsBody) -> tuple[Response, int]:
    """Register an object already in the bucket (a backfill); 202 when new, 200 when already registered."""
    answer, status = register_backfill(body, actor=current_actor())
    return jsonify(answer), status

"""``POST /api/ingest/from_gcs`` (internal): register an object already in the raw bucket (backfills).

The same registration as a finalize event, for objects that landed before the trigger existed or
whose event was lost; registering the same object twice gives one ingestion.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.ingest import REGISTERED, ensure_intake_open, registration_body
from eventpulse.api.operations import Operations
from eventpulse.api.params import FromGcsBody
from eventpulse.api.roles import TASK
from eventpulse.errors import BadRequest
from eventpulse.landing.bucket import require_gcs_landing

bp = Operations("backfill", __name__, url_prefix="/api")


@bp.operation(
    "POST",
    "/ingest/from_gcs",
    access=TASK,
    returns=REGISTERED,
    errors=(400, 404, 415, 422, 429),
    body=FromGcsBody,
)
def from_gcs(body: FromGcsBody) -> tuple[Response, int]:
    """Register an object already in storage; 202 when new, 200 when already registered."""
    answer, status = register_backfill(body, actor=current_actor())
    return jsonify(answer), status


def register_backfill(body: FromGcsBody, *, actor: str) -> tuple[dict[str, Any], int]:
    """The registration answer and status for ``body``'s object (also ``POST /api/uploads/backfill``)."""
    services = current_services()
    if not body.name.strip():
        raise BadRequest("name (the object name) is required", details={"parameter": "name"})
    from eventpulse.landing.objects import BACKFILL_SOURCE, register_existing_object  # adapters load lazily

    ensure_intake_open(services, BACKFILL_SOURCE)
    require_gcs_landing(services)  # on the filesystem landing, say so before asking for a bucket
    bucket = body.bucket or services.settings.gcs_bucket
    if not bucket:
        raise BadRequest("bucket is required", hint='pass "bucket", or set EVENTPULSE_GCS_BUCKET')
    registration = register_existing_object(services, bucket=bucket, name=body.name, actor=actor)
    return registration_body(services, registration)

"""``POST /api/ingest/from_gcs`` (internal): register an object already in the raw bucket (backfills).

The same registration as a finalize event, for objects that landed before the trigger existed or
whose event was lost; registering the same object twice gives one ingestion.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from eventpulse.api.auth import current_actor, internal
from eventpulse.api.context import current_services
from eventpulse.api.present import present_ingestion
from eventpulse.errors import BadRequest

bp = Blueprint("backfill", __name__, url_prefix="/api")

JSON_BODY_MAX_BYTES = 64 * 1024


@bp.post("/ingest/from_gcs")
@internal
def from_gcs() -> tuple[Response, int]:
    """``{"name": "<object>", "bucket"?: "<bucket>"}``; 202 when new, 200 when already registered."""
    services = current_services()
    body = _json_object()
    name, bucket = body.get("name"), body.get("bucket") or services.settings.gcs_bucket
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name (the object name) is required", details={"parameter": "name"})
    if not isinstance(bucket, str) or not bucket:
        raise BadRequest("bucket is required", hint='pass "bucket", or set EVENTPULSE_GCS_BUCKET')
    from eventpulse.cloud.finalize import register_existing_object  # its adapters load on first use

    registration = register_existing_object(services, bucket=bucket, name=name, actor=current_actor())
    with services.store.read() as tx:  # the inline queue may already have processed it
        row = tx.ingestions.get(registration.ingestion["id"]) or registration.ingestion
    answer = {**present_ingestion(row), "deduplicated": registration.deduplicated}
    return jsonify(answer), 200 if registration.deduplicated else 202


def _json_object() -> dict[str, Any]:
    request.max_content_length = JSON_BODY_MAX_BYTES
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", hint='send {"name": "raw/<dataset>/<file>"}')
    return body

"""Review API: an operator approves or rejects the new schema of a QUARANTINED ingestion."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.params import parse_uuid
from eventpulse.api.present import present_ingestion
from eventpulse.errors import BadRequest
from eventpulse.pipeline.review import approve_schema, ensure_note, reject_schema

bp = Blueprint("review", __name__, url_prefix="/api")

JSON_BODY_MAX_BYTES = 16 * 1024


@bp.post("/ingestions/<ingestion_id>/approve")
def approve(ingestion_id: str) -> tuple[Response, int]:
    """202: the schema is accepted and the file is queued again (the body shows its current state)."""
    row = approve_schema(
        current_services(), parse_uuid(ingestion_id), actor=current_actor(), note=_note_from_body()
    )
    return jsonify(present_ingestion(row)), 202


@bp.post("/ingestions/<ingestion_id>/reject")
def reject(ingestion_id: str) -> tuple[Response, int]:
    """200: the ingestion is REJECTED (final)."""
    row = reject_schema(
        current_services(), parse_uuid(ingestion_id), actor=current_actor(), note=_note_from_body()
    )
    return jsonify(present_ingestion(row)), 200


def _note_from_body() -> str | None:
    """The optional ``{"note": "..."}`` body; an empty body is fine, anything else must be that object."""
    request.max_content_length = JSON_BODY_MAX_BYTES
    if not request.get_data(cache=True):
        return None
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict) or set(body) - {"note"}:
        raise BadRequest(
            "the body must be empty or a JSON object with an optional note",
            hint='send {"note": "why"} with Content-Type: application/json',
        )
    return ensure_note(body.get("note"))

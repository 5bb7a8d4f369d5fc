"""Review API: an operator approves or rejects the new schema of a QUARANTINED ingestion."""

from __future__ import annotations

from flask import Response, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import IngestionPath, ReviewBody
from eventpulse.api.present import present_ingestion
from eventpulse.api.resources import Ingestion
from eventpulse.api.roles import OPERATOR
from eventpulse.pipeline.review import approve_schema, ensure_note, reject_schema

bp = Operations("review", __name__, url_prefix="/api")

ERRORS = (400, 404, 409)


@bp.operation(
    "POST",
    "/ingestions/<ingestion_id>/approve",
    access=OPERATOR,
    returns={202: Ingestion},
    errors=ERRORS,
    body=ReviewBody,
    body_optional=True,
)
def approve(path: IngestionPath, body: ReviewBody) -> tuple[Response, int]:
    """Accept the file's new schema and queue it again (202; the body shows its current state)."""
    row = approve_schema(
        current_services(), path.ingestion_id, actor=current_actor(), note=ensure_note(body.note)
    )
    return jsonify(present_ingestion(row)), 202


@bp.operation(
    "POST",
    "/ingestions/<ingestion_id>/reject",
    access=OPERATOR,
    returns={200: Ingestion},
    errors=ERRORS,
    body=ReviewBody,
    body_optional=True,
)
def reject(path: IngestionPath, body: ReviewBody) -> tuple[Response, int]:
    """Refuse the file's new schema: the ingestion ends REJECTED (final)."""
    row = reject_schema(
        current_services(), path.ingestion_id, actor=current_actor(), note=ensure_note(body.note)
    )
    return jsonify(present_ingestion(row)), 200

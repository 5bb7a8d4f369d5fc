"""Review API: approve or reject the new schema of a QUARANTINED ingestion; confirm a rename."""

from __future__ import annotations

from flask import Response, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import IngestionPath, RenameBody, ReviewBody
from eventpulse.api.present import present_ingestion
from eventpulse.api.resources import Ingestion, RenameMapped
from eventpulse.api.roles import ADMIN, OPERATOR
from eventpulse.pipeline.renames import confirm_rename
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


@bp.operation(
    "POST",
    "/ingestions/<ingestion_id>/map_rename",
    access=ADMIN,
    returns={202: RenameMapped},
    errors=(400, 404, 409, 422),
    body=RenameBody,
)
def map_rename(path: IngestionPath, body: RenameBody) -> tuple[Response, int]:
    """Confirm a rename: the contract maps the file's column to the known one, and the file is replayed.

    Saves the dataset's contract with `meta.eventpulse.renames` extended (an admin action, audited as
    `contract.adopted`), then replays the ingestion: the column keeps its history. 400 when the file has
    no such column, 422 when the edited contract does not validate (e.g. an unknown target column).
    """
    done = confirm_rename(
        current_services(),
        path.ingestion_id,
        file_column=body.from_,
        column=body.to,
        actor=current_actor(),
        note=ensure_note(body.note),
    )
    result = {
        "contract_version": done.contract_version,
        "previous_version": done.previous_version,
        "candidate": done.candidate,
        "replay": present_ingestion(done.replay),
    }
    return jsonify(result), 202

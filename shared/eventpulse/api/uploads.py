"""Dashboard uploads: mint a signed PUT URL for a file, and backfill an object already in the bucket.

``POST /api/uploads/signed_url`` is the ``signed_url`` function's minting (``cloud/signed_url.py``)
for an operator token; ``POST /api/uploads/backfill`` is ``POST /api/ingest/from_gcs`` (the task
token's route) for an operator token. Both need the GCS landing: on the filesystem landing they
answer 400 saying so and what to set.
"""

from __future__ import annotations

from flask import Response, jsonify
from pydantic import Field

from eventpulse.api.auth import current_actor
from eventpulse.api.backfill import register_backfill
from eventpulse.api.context import current_services
from eventpulse.api.edge_uploads import EdgeSigned
from eventpulse.api.ingest import REGISTERED
from eventpulse.api.operations import Operations
from eventpulse.api.params import Body, FromGcsBody
from eventpulse.api.roles import OPERATOR

bp = Operations("uploads", __name__, url_prefix="/api/uploads")

DASHBOARD_SOURCE = "dashboard_signed_url"


class SignedUrlBody(Body):
    dataset: str = Field(max_length=200, description="the dataset the file belongs to")
    filename: str = Field(max_length=255, description="the file's name (its extension picks the reader)")
    sha256: str | None = Field(None, max_length=64, description="hex sha256 of the bytes, if known")
    content_type: str | None = Field(None, max_length=200, description="the Content-Type the PUT sends")
    header: str | None = Field(
        None, max_length=64 * 1024, description="a CSV file's first line: checked against the drift policy"
    )


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
    """A create-only signed PUT into the landing bucket; the finalize event registers the file."""
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

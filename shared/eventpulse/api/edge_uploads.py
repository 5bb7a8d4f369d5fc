"""A device's signed-URL data upload (issue 8): mint a PUT URL, upload to GCS, then finalize.

``POST /api/edge/uploads/gcs_signed_url`` mints a create-only V4 PUT for
``edge-uploads/<device_id>/<dataset>/<random><ext>`` with the device signed into its metadata
(``source: device:<id>``). That prefix is neither raw nor ``uploads/``, so the bucket's finalize
trigger ignores it: only ``POST /api/edge/ingest/from_gcs``, called by the same device, registers it
with source ``device:<id>`` (so its rows are bound to the device like a direct upload's).

The filesystem landing has no bucket to sign for: both routes answer 409 ``not_configured``-style
``bucket_landing_required`` with a hint to use the direct upload, ``POST /api/edge/ingest/upload``,
which does the same on the embedded defaults (a local signed URL would only add a second copy path).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from flask import Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from eventpulse.api.auth import calling_device
from eventpulse.api.context import current_services
from eventpulse.api.edge import ensure_dataset_allowed
from eventpulse.api.ingest import REGISTERED, ensure_intake_open, registration_body
from eventpulse.api.operations import Operations
from eventpulse.api.params import Body
from eventpulse.api.roles import DEVICE
from eventpulse.devices.binding import device_source
from eventpulse.errors import Conflict, NotFound
from eventpulse.landing.intake import (
    clean_filename,
    ensure_allowed_extension,
    ensure_content_type,
    ensure_sha256,
    ensure_valid_contract,
)
from eventpulse.landing.keys import content_type_for, encode_metadata_filename, extension_of
from eventpulse.ports import BucketLanding, Services
from eventpulse.schema.naming import ensure_dataset_name

bp = Operations("edge_uploads", __name__, url_prefix="/api/edge")

EDGE_UPLOADS_PREFIX = "edge-uploads/"
"""Object-name prefix of devices' signed-URL uploads: ``edge-uploads/<device_id>/<dataset>/<32 hex><ext>``."""
_UPLOAD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}/[0-9a-f]{32}(\.[a-z0-9]{1,10})?$")


class EdgeSignBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    dataset: str = Field(max_length=63, description="a dataset this device may send")
    filename: str = Field(min_length=1, max_length=255, description="the file's name (its extension counts)")
    sha256: str | None = Field(
        None, max_length=64, description="hex sha256 of the bytes (verified on finalize)"
    )
    content_type: str | None = Field(None, max_length=100, description="default: from the extension")


class EdgeFinalizeBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    object_name: str = Field(min_length=1, max_length=400, description="object_name from gcs_signed_url")


class EdgeSigned(BaseModel):
    url: str
    method: str
    headers: dict[str, str] = Field(description="send each one exactly with the PUT")
    bucket: str
    object_name: str
    expires_at: str


def ensure_allowed_dataset(dataset: str) -> str:
    dataset = ensure_dataset_name(dataset)
    ensure_dataset_allowed(calling_device(), dataset)
    return dataset


def require_bucket(services: Services) -> BucketLanding:
    if not isinstance(services.landing, BucketLanding):
        raise BucketLandingRequired(
            "signed-URL uploads need the GCS landing; this server lands files on the filesystem",
            hint="upload directly with POST /api/edge/ingest/upload, or set EVENTPULSE_LANDING=gcs",
        )
    return services.landing


class BucketLandingRequired(Conflict):
    code = "bucket_landing_required"


@bp.operation(
    "POST",
    "/uploads/gcs_signed_url",
    access=DEVICE,
    returns={201: EdgeSigned},
    errors=(400, 404, 409, 415, 422),
    body=EdgeSignBody,
)
def gcs_signed_url(body: EdgeSignBody) -> tuple[Response, int]:
    """A create-only signed PUT for one data file of this device; finalize it with ingest/from_gcs."""
    device_id = calling_device().device_id
    services = current_services()
    dataset = ensure_allowed_dataset(body.dataset)
    filename = clean_filename(body.filename)
    ensure_allowed_extension(services, filename)
    ensure_valid_contract(services, dataset)
    landing = require_bucket(services)
    headers = {
        "content-type": ensure_content_type(body.content_type)
        if body.content_type
        else content_type_for(filename),
        "x-goog-if-generation-match": "0",
        "x-goog-meta-dataset": dataset,
        "x-goog-meta-source": device_source(device_id),
        "x-goog-meta-filename": encode_metadata_filename(filename),
    }
    if body.sha256 is not None:
        headers["x-goog-meta-sha256"] = ensure_sha256(body.sha256)
    name = f"{EDGE_UPLOADS_PREFIX}{device_id}/{dataset}/{uuid.uuid4().hex}{extension_of(filename)}"
    expires = timedelta(seconds=services.settings.media_url_expires_seconds)
    url = landing.signed_put_url(name, headers=headers, expires=expires)
    now = services.clock.now()
    answer = EdgeSigned(
        url=url,
        method="PUT",
        headers=headers,
        bucket=landing.bucket_name,
        object_name=name,
        expires_at=(now + expires).isoformat(timespec="seconds"),
    )
    return jsonify(answer.model_dump()), 201


@bp.operation(
    "POST",
    "/ingest/from_gcs",
    access=DEVICE,
    returns=REGISTERED,
    errors=(400, 404, 409, 415, 422, 429),
    body=EdgeFinalizeBody,
)
def ingest_from_gcs(body: EdgeFinalizeBody) -> tuple[Response, int]:
    """Register this device's signed-URL upload with source ``device:<id>``; 202 new, 200 known.

    Only an object minted for the caller counts: any other name is 404, whether or not it exists.
    """
    device_id = calling_device().device_id
    services = current_services()
    landing = require_bucket(services)
    prefix = f"{EDGE_UPLOADS_PREFIX}{device_id}/"
    name = body.object_name
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    missing = NotFound(
        f"no upload {name[:400]!r} of this device", hint="send the object_name gcs_signed_url answered"
    )
    if not _UPLOAD_NAME.match(rest):
        raise missing
    obj = landing.stat(name)
    if obj is None or obj.metadata.get("source") != device_source(device_id):
        raise missing
    ensure_allowed_dataset(rest.split("/", 1)[0])  # the device's datasets may have changed since
    ensure_intake_open(services, device_source(device_id))
    from eventpulse.landing.objects import register_existing_object  # its adapters load on first use

    registration = register_existing_object(
        services,
        bucket=landing.bucket_name,
        name=name,
        actor=f"device:{device_id}",
        dataset=rest.split("/", 1)[0],
        source=device_source(device_id),
    )
    answer, status = registration_body(services, registration)
    return jsonify(answer), status

"""A raw landing in a bucket, as registration and signed URLs need it (no database, no pipeline imports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventpulse.errors import BadRequest
from eventpulse.ports import BucketLanding

if TYPE_CHECKING:
    from eventpulse.ports import Services

UPLOADS_PREFIX = "uploads/"
"""Object-name prefix of signed-URL uploads without a declared sha256 (staging, outside raw)."""


def require_gcs_landing(services: Services) -> BucketLanding:
    """The bucket landing of these services; BadRequest when raw files land on the filesystem."""
    if not isinstance(services.landing, BucketLanding):
        raise BadRequest(
            "this deployment lands raw files on the filesystem, not in a GCS bucket",
            hint="set EVENTPULSE_LANDING=gcs and EVENTPULSE_GCS_BUCKET to use signed URLs and GCS events",
        )
    return services.landing

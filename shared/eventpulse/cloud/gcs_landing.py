"""The GCS landing as the cloud functions see it (no database, no pipeline imports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventpulse.errors import BadRequest

if TYPE_CHECKING:
    from eventpulse.adapters.landing_gcs import GcsLanding
    from eventpulse.bootstrap import Services

UPLOADS_PREFIX = "uploads/"
"""Object-name prefix of signed-URL uploads without a declared sha256 (staging, outside raw)."""


def require_gcs_landing(services: Services) -> GcsLanding:
    from eventpulse.adapters.landing_gcs import GcsLanding

    if not isinstance(services.landing, GcsLanding):
        raise BadRequest(
            "this deployment lands raw files on the filesystem, not in a GCS bucket",
            hint="set EVENTPULSE_LANDING=gcs and EVENTPULSE_GCS_BUCKET to use signed URLs and GCS events",
        )
    return services.landing

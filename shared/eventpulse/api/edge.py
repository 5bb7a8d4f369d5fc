"""Routes an enrolled edge device calls (issue 8): who am I, and I am alive.

Every route here takes a device credential only (``DEVICE``); ``api/auth.py`` proves it, refuses a
revoked device and records the device as heard before the view runs.
"""

from __future__ import annotations

from flask import Response, jsonify

from eventpulse.api.auth import current_principal
from eventpulse.api.operations import Operations
from eventpulse.api.resources import EdgePing
from eventpulse.api.roles import DEVICE

bp = Operations("edge", __name__, url_prefix="/api/edge")


@bp.operation("GET", "/ping", access=DEVICE, returns={200: EdgePing})
def ping() -> Response:
    """A device's cheapest check that its credential works (and a last-seen update)."""
    principal = current_principal()
    return jsonify({"device_id": principal.device_id if principal else None})

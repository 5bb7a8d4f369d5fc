"""Routes an enrolled edge device calls (issue 8): who am I, and I am alive.

Every route here takes a device credential only (``DEVICE``); ``api/auth.py`` proves it, refuses a
revoked device and records the device as heard before the view runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, jsonify

from eventpulse.api.auth import current_principal
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import HeartbeatBody
from eventpulse.api.resources import EdgeHeartbeat, EdgePing
from eventpulse.api.roles import DEVICE
from eventpulse.ports.devices import Health

bp = Operations("edge", __name__, url_prefix="/api/edge")


@bp.operation("GET", "/ping", access=DEVICE, returns={200: EdgePing})
def ping() -> Response:
    """A device's cheapest check that its credential works (and a last-seen update)."""
    principal = current_principal()
    return jsonify({"device_id": principal.device_id if principal else None})


@bp.operation("POST", "/heartbeat", access=DEVICE, returns={200: EdgeHeartbeat}, body=HeartbeatBody)
def heartbeat(body: HeartbeatBody) -> Response:
    """Record the device's own health report (battery, signal, versions, backlog) as last heard."""
    principal = current_principal()
    device_id = principal.device_id if principal else None
    now = datetime.now(UTC)
    if device_id is not None:
        health = Health(**body.model_dump(), reported_at=now)
        current_services().devices.touch(device_id, at=now, health=health)  # type: ignore[attr-defined]
    return jsonify({"device_id": device_id, "online": device_id is not None, "reported_at": now.isoformat()})

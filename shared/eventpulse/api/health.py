"""Liveness (``/health``: the process answers) and readiness (``/readyz``: the database answers, and
how deep the queue is)."""

from __future__ import annotations

from flask import Response, jsonify

from eventpulse.api.context import current_backlog, current_services
from eventpulse.api.errors import build_envelope
from eventpulse.api.operations import Operations
from eventpulse.api.resources import Health, Ready
from eventpulse.api.roles import PUBLIC
from eventpulse.landing.backpressure import describe_backlog

bp = Operations("health", __name__)


@bp.operation("GET", "/health", access=PUBLIC, returns={200: Health})
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.operation("GET", "/readyz", access=PUBLIC, returns={200: Ready}, errors=(503,))
def readyz() -> Response:
    """Readiness: the metadata database answers (503 not_ready when it does not), with the queue depth."""
    services = current_services()
    if not services.store.is_reachable():
        return build_envelope(
            503,
            "not_ready",
            "the metadata database does not answer",
            hint="check that Postgres is running and DATABASE_URL points at it",
            details={"checks": {"database": "unreachable"}},
        )
    # The queue depth: a load balancer may keep routing here (the backlog is shared), operators see it.
    queue = describe_backlog(current_backlog(), services.settings)
    return jsonify({"status": "ready", "checks": {"database": "ok"}, "queue": queue})

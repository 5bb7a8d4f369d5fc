"""Liveness (``/health``: the process answers) and readiness (``/readyz``: the database answers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from eventpulse.api.context import current_services
from eventpulse.api.errors import build_envelope

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    services = current_services()
    if not services.store.is_reachable():
        return build_envelope(
            503,
            "not_ready",
            "the metadata database does not answer",
            hint="check that Postgres is running and DATABASE_URL points at it",
            details={"checks": {"database": "unreachable"}},
        )
    return jsonify({"status": "ready", "checks": {"database": "ok"}})

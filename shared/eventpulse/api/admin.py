"""``/internal/admin/...``: run the maintenance jobs over HTTP (a scheduler or an operator).

Every route needs ``X-Task-Token`` (checked in constant time, before routing, so an unknown
``/internal/`` path answers 401 too) and takes a JSON object body. Each run is audited as
``job.<name>`` with its actor; ``requested_by`` in the body is recorded in the event's details.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from eventpulse.api.auth import is_token_accepted
from eventpulse.api.context import current_services
from eventpulse.errors import BadRequest, Unauthorized
from eventpulse.jobs.prune import ensure_days, prune_retention
from eventpulse.jobs.replay import parse_instant, replay_range
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.settings import Settings

bp = Blueprint("admin", __name__, url_prefix="/internal/admin")

PREFIX = "/internal/"
JSON_BODY_MAX_BYTES = 64 * 1024


@bp.before_app_request
def _check_task_token() -> None:
    if not request.path.startswith(PREFIX):
        return
    settings: Settings = current_app.config["EVENTPULSE_SETTINGS"]
    if settings.auth_disabled:
        g.actor = "local-dev"
        return
    if not is_token_accepted(request.headers.get("X-Task-Token"), settings.task_token_sha256):
        raise Unauthorized(
            "internal endpoints need a valid X-Task-Token header",
            hint="send the task token whose sha256 is in EVENTPULSE_TASK_TOKEN_SHA256",
        )
    g.actor = "task"


@bp.post("/reclaim")
def reclaim() -> tuple[Response, int]:
    """Release stale claims and re-deliver lost work (``older_than_seconds`` overrides the setting)."""
    body = _json_object()
    older_than = body.get("older_than_seconds")
    if older_than is not None and (
        isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or older_than < 0
    ):
        raise BadRequest(
            "older_than_seconds must be a number >= 0", details={"parameter": "older_than_seconds"}
        )
    services = current_services()
    actor = _actor(body)
    report = reclaim_stale(services, older_than_seconds=older_than, actor=actor)
    result = {"stale": report.stale, "unqueued": report.unqueued, "retried": report.retried}
    _audit("reclaim_stuck", actor, {k: [str(i) for i in v] for k, v in result.items()})
    return jsonify(result), 200


@bp.post("/prune")
def prune() -> tuple[Response, int]:
    """Retention; a dry run unless ``"apply": true``; raw objects only with ``"include_raw": true``."""
    body = _json_object()
    report = prune_retention(
        current_services(),
        older_than_days=ensure_days(body.get("older_than_days")),
        apply=_flag(body, "apply"),
        include_raw=_flag(body, "include_raw"),
        actor=_actor(body),
    )
    return jsonify(report.to_dict()), 200


@bp.post("/replay")
def replay() -> tuple[Response, int]:
    """One new ingestion per original of ``dataset`` created in [``since``, ``until``)."""
    body = _json_object()
    dataset = body.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise BadRequest("dataset is required", details={"parameter": "dataset"})
    report = replay_range(
        current_services(),
        dataset=dataset,
        since=parse_instant(body.get("since"), "since"),
        until=parse_instant(body.get("until"), "until"),
        dry_run=_flag(body, "dry_run"),
        actor=_actor(body),
    )
    return jsonify(report.to_dict()), 200 if report.dry_run else 202


def _json_object() -> dict[str, Any]:
    request.max_content_length = JSON_BODY_MAX_BYTES
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", hint="send Content-Type: application/json")
    return body


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false", details={"parameter": key})
    return value


def _actor(body: dict[str, Any]) -> str:
    """``admin:<credential>``, plus who asked when the caller says so (free text, at most 100 chars)."""
    actor = f"admin:{g.get('actor', 'anonymous')}"
    requested_by = body.get("requested_by")
    if isinstance(requested_by, str) and requested_by.strip():
        actor += f" ({requested_by.strip()[:100]})"
    return actor


def _audit(job: str, actor: str, details: dict[str, Any]) -> None:
    from eventpulse.jobs.audit import record_job_run

    record_job_run(current_services(), job=job, actor=actor, details=details)

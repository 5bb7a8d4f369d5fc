"""``/internal/admin/...``: run the maintenance jobs over HTTP (a scheduler or an admin).

Every route takes ``X-Task-Token`` (the scheduler's machine credential) or a bearer token with the
``admin`` role, checked before routing (an unknown ``/internal/`` path answers 401 too), and an
optional JSON object body. Each run is audited as ``job.<name>`` with actor ``admin:<caller>``;
``requested_by`` in the body is recorded with it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import PruneBody, ReclaimBody, ReplayRangeBody
from eventpulse.api.resources import PruneReport, ReclaimReport, ReplayRangeReport
from eventpulse.api.roles import ADMIN_OR_TASK
from eventpulse.jobs.prune import prune_retention
from eventpulse.jobs.replay import parse_instant, replay_range
from eventpulse.pipeline.reclaim import reclaim_stale

bp = Operations("admin", __name__, url_prefix="/internal/admin")


@bp.operation(
    "POST",
    "/reclaim",
    access=ADMIN_OR_TASK,
    returns={200: ReclaimReport},
    body=ReclaimBody,
    body_optional=True,
)
def reclaim(body: ReclaimBody) -> tuple[Response, int]:
    """Release stale claims and re-deliver lost work (`older_than_seconds` overrides the setting)."""
    services = current_services()
    actor = _actor(body.requested_by)
    report = reclaim_stale(services, older_than_seconds=body.older_than_seconds, actor=actor)
    result = {"stale": report.stale, "unqueued": report.unqueued, "retried": report.retried}
    _audit("reclaim_stuck", actor, {k: [str(i) for i in v] for k, v in result.items()})
    return jsonify(result), 200


@bp.operation(
    "POST", "/prune", access=ADMIN_OR_TASK, returns={200: PruneReport}, errors=(400,), body=PruneBody
)
def prune(body: PruneBody) -> tuple[Response, int]:
    """Retention: a dry run unless `"apply": true`; raw objects only with `"include_raw": true`."""
    report = prune_retention(
        current_services(),
        older_than_days=body.older_than_days,
        apply=body.apply,
        include_raw=body.include_raw,
        actor=_actor(body.requested_by),
    )
    return jsonify(report.to_dict()), 200


@bp.operation(
    "POST",
    "/replay",
    access=ADMIN_OR_TASK,
    returns={202: ReplayRangeReport, 200: ReplayRangeReport},
    errors=(400,),
    body=ReplayRangeBody,
)
def replay(body: ReplayRangeBody) -> tuple[Response, int]:
    """One new ingestion per original of `dataset` created in [`since`, `until`) (200 for a dry run)."""
    report = replay_range(
        current_services(),
        dataset=body.dataset,
        since=parse_instant(body.since, "since"),
        until=parse_instant(body.until, "until"),
        dry_run=body.dry_run,
        actor=_actor(body.requested_by),
    )
    return jsonify(report.to_dict()), 200 if report.dry_run else 202


def _actor(requested_by: str | None) -> str:
    """``admin:<caller>``, plus who asked when the caller says so (free text, at most 100 chars)."""
    actor = f"admin:{current_actor()}"
    if requested_by and requested_by.strip():
        actor += f" ({requested_by.strip()[:100]})"
    return actor


def _audit(job: str, actor: str, details: dict[str, Any]) -> None:
    from eventpulse.jobs.audit import record_job_run

    record_job_run(current_services(), job=job, actor=actor, details=details)

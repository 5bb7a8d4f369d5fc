"""Retention: delete audit events and final ingestions (with their artifacts) older than N days.

A dry run (the default) only says what would go. Raw objects are deleted only when asked
(``include_raw``) and only when no remaining ingestion references them: the raw landing zone is the
source of truth for replay, so deleting from it is the one irreversible step. Curated rows are never
touched; they keep their ``_ingestion_id`` even when that ingestion row is gone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventpulse.errors import BadRequest
from eventpulse.jobs.audit import record_job_run

if TYPE_CHECKING:
    from eventpulse.ports import Services

log = logging.getLogger(__name__)

JOB = "prune_retention"
SHOWN = 50
"""Ingestions listed one by one in the summary; the rest are counted."""
BATCH = 1000
"""Ingestions deleted per transaction (audit events: ten times as many)."""


@dataclass(frozen=True)
class PrunePlan:
    older_than_days: int
    cutoff: datetime
    ingestions: tuple[dict[str, Any], ...]
    """Final ingestions older than the cutoff (replays first), with id, dataset, status, raw_key."""
    artifacts: int
    audit_events: int
    raw_keys: tuple[str, ...] = ()
    """Raw objects no remaining ingestion would reference (only computed when raw is included)."""
    include_raw: bool = False


@dataclass(frozen=True)
class PruneReport:
    plan: PrunePlan
    applied: bool
    ingestions_deleted: int = 0
    audit_events_deleted: int = 0
    raw_deleted: tuple[str, ...] = ()
    raw_kept: tuple[str, ...] = field(default=())
    """Raw keys a new ingestion referenced between the plan and the delete (left in place)."""

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "dry_run": not self.applied,
            "older_than_days": plan.older_than_days,
            "cutoff": plan.cutoff,
            "include_raw": plan.include_raw,
            "ingestions": len(plan.ingestions),
            "artifacts": plan.artifacts,
            "audit_events": plan.audit_events,
            "raw_objects": len(plan.raw_keys),
            "ingestion_ids": [row["id"] for row in plan.ingestions[:SHOWN]],
            "deleted": {
                "ingestions": self.ingestions_deleted,
                "audit_events": self.audit_events_deleted,
                "raw_objects": len(self.raw_deleted),
            },
            "raw_kept": list(self.raw_kept),
        }


def ensure_days(older_than_days: object) -> int:
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise BadRequest(
            f"older_than_days must be a whole number of days, at least 1 (got {older_than_days!r})",
            details={"parameter": "older_than_days"},
        )
    return older_than_days


def plan_prune(
    services: Services, *, older_than_days: int, include_raw: bool = False, now: datetime | None = None
) -> PrunePlan:
    """What a prune would delete now (reads only)."""
    days = ensure_days(older_than_days)
    cutoff = (now or services.clock.now()) - timedelta(days=days)
    with services.store.read() as tx:
        rows = tx.ingestions.find_prunable(cutoff=cutoff)
        ids = [row["id"] for row in rows]
        artifacts = tx.ingestions.count_artifacts(ids)
        audit = tx.audit.count_before(cutoff)
        raw_keys: list[str] = []
        if include_raw:
            keys = {row["raw_key"] for row in rows}
            kept = tx.ingestions.find_referenced_keys(keys, excluding=set(ids))
            raw_keys = sorted(keys - kept)
    return PrunePlan(
        older_than_days=days,
        cutoff=cutoff,
        ingestions=tuple(rows),
        artifacts=artifacts,
        audit_events=audit,
        raw_keys=tuple(raw_keys),
        include_raw=include_raw,
    )


def prune_retention(
    services: Services,
    *,
    older_than_days: int,
    apply: bool = False,
    include_raw: bool = False,
    actor: str,
    now: datetime | None = None,
) -> PruneReport:
    """Plan, then (only with ``apply``) delete; the run is audited with its actor either way."""
    plan = plan_prune(services, older_than_days=older_than_days, include_raw=include_raw, now=now)
    report = _apply(services, plan) if apply else PruneReport(plan=plan, applied=False)
    details = report.to_dict()
    details.pop("ingestion_ids")
    record_job_run(services, job=JOB, actor=actor, details=_jsonable(details))
    return report


def _apply(services: Services, plan: PrunePlan) -> PruneReport:
    deleted = 0
    ids = [row["id"] for row in plan.ingestions]
    for start in range(0, len(ids), BATCH):  # replays come first: no batch leaves a dangling replay_of
        with services.store.transaction() as tx:
            deleted += tx.ingestions.delete(ids[start : start + BATCH], cutoff=plan.cutoff)
    audit = 0
    while True:
        with services.store.transaction() as tx:
            gone = tx.audit.delete_before(plan.cutoff, limit=10 * BATCH)
        audit += gone
        if not gone:
            break
    raw_deleted, raw_kept = _delete_raw(services, plan.raw_keys)
    return PruneReport(
        plan=plan,
        applied=True,
        ingestions_deleted=deleted,
        audit_events_deleted=audit,
        raw_deleted=raw_deleted,
        raw_kept=raw_kept,
    )


def _delete_raw(services: Services, keys: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not keys:
        return (), ()
    landing = services.landing
    # Re-check after the rows are gone: an upload of the same bytes may have registered meanwhile.
    with services.store.read() as tx:
        kept = tx.ingestions.find_referenced_keys(keys)
    deleted = []
    for key in keys:
        if key not in kept and landing.delete(key):
            deleted.append(key)
    if kept:
        log.warning("kept %d raw object(s) that a new ingestion references: %s", len(kept), sorted(kept))
    return tuple(deleted), tuple(sorted(kept))


def format_report(report: PruneReport, echo: Callable[[str], None]) -> None:
    """Print what went (or would go) line by line, then a summary."""
    plan = report.plan
    verb = "deleted" if report.applied else "would delete"
    for row in plan.ingestions[:SHOWN]:
        created = row["created_at"].isoformat(timespec="seconds")
        echo(f"{row['id']}  {created}  {row['dataset']:<20} {row['status']:<20} {row['filename']}")
    if len(plan.ingestions) > SHOWN:
        echo(f"... and {len(plan.ingestions) - SHOWN} more ingestion(s)")
    for key in plan.raw_keys[:SHOWN]:
        echo(f"raw object {key}")
    ingestions = report.ingestions_deleted if report.applied else len(plan.ingestions)
    audit = report.audit_events_deleted if report.applied else plan.audit_events
    raw = len(report.raw_deleted) if report.applied else len(plan.raw_keys)
    raw_note = f", {raw} raw object(s)" if plan.include_raw else " (raw objects kept: pass --include-raw)"
    echo(
        f"{verb}: {ingestions} ingestion(s) with {plan.artifacts} artifact(s), {audit} audit event(s)"
        f"{raw_note}; older than {plan.older_than_days} day(s) (before {plan.cutoff.isoformat()})"
    )
    if not report.applied:
        echo("dry run: nothing was deleted; pass --apply to delete")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, uuid.UUID)):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return value

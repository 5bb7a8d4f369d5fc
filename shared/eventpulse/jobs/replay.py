"""Replay a dataset, or part of it by creation time, from the raw landing zone.

Each first ingestion (not a replay) in the range gets one new ingestion over the same raw object
(``landing.register.replay``); the originals are left as they were. Ingestions still in flight are
skipped: replaying them would race their own processing. A replay counts as failed when it could not
be made, or when it has already ended in a failed state (an inline queue processes it at once; with
RQ or Cloud Tasks it is usually still queued when the report is made, and counts as replayed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventpulse.errors import BadRequest, EventPulseError
from eventpulse.jobs.audit import record_job_run
from eventpulse.landing.register import replay
from eventpulse.schema.naming import ensure_dataset_name
from eventpulse.states import Status

if TYPE_CHECKING:
    from eventpulse.ports import Services

log = logging.getLogger(__name__)

JOB = "replay"
IN_FLIGHT = frozenset({Status.RECEIVED.value, Status.PROCESSING.value})
ENDED_FAILED = frozenset(s.value for s in Status if s.startswith("FAILED_"))
"""Replays in these states count as failed, retryable (FAILED_EXCEPTION) or not."""

Progress = Callable[[int, int, dict[str, Any], str], None]
"""Called after each original: (n, total, original row, outcome text)."""


@dataclass(frozen=True)
class ReplayReport:
    dataset: str
    since: datetime | None
    until: datetime | None
    dry_run: bool
    selected: int
    replayed: tuple[tuple[uuid.UUID, uuid.UUID], ...] = ()
    """(original id, new ingestion id) pairs."""
    skipped: tuple[tuple[uuid.UUID, str], ...] = ()
    failed: tuple[tuple[uuid.UUID, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "since": self.since,
            "until": self.until,
            "dry_run": self.dry_run,
            "selected": self.selected,
            "replayed": [{"original": str(o), "ingestion": str(n)} for o, n in self.replayed],
            "skipped": [{"original": str(o), "reason": r} for o, r in self.skipped],
            "failed": [{"original": str(o), "error": e} for o, e in self.failed],
        }

    def summary(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        count = self.selected - len(self.skipped) if self.dry_run else len(self.replayed)
        window = f"{_iso(self.since) or 'the beginning'} .. {_iso(self.until) or 'now'}"
        return (
            f"{verb} {count} of {self.selected} ingestion(s) of {self.dataset} created {window}; "
            f"skipped {len(self.skipped)}, failed {len(self.failed)}"
        )


def parse_instant(raw: object, name: str) -> datetime | None:
    """An ISO 8601 instant (a date alone means its midnight); naive values are UTC."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise BadRequest(f"{name} must be an ISO 8601 string", details={"parameter": name})
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name} {raw!r} is not an ISO 8601 time",
            hint="e.g. 2026-11-01 or 2026-11-01T00:00:00Z",
            details={"parameter": name},
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def replay_range(
    services: Services,
    *,
    dataset: str,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """One new ingestion per original of ``dataset`` created in [since, until); audited with its actor."""
    dataset = ensure_dataset_name(dataset or "")
    if since and until and since >= until:
        raise BadRequest(f"since ({_iso(since)}) must be before until ({_iso(until)})")
    with services.store.read() as tx:
        originals = tx.ingestions.find_replay_originals(dataset=dataset, since=since, until=until)
    replayed: list[tuple[uuid.UUID, uuid.UUID]] = []
    skipped: list[tuple[uuid.UUID, str]] = []
    failed: list[tuple[uuid.UUID, str]] = []
    for n, original in enumerate(originals, start=1):
        outcome = _replay_one(services, original, actor, dry_run, replayed, skipped, failed)
        if progress is not None:
            progress(n, len(originals), original, outcome)
    report = ReplayReport(
        dataset=dataset,
        since=since,
        until=until,
        dry_run=dry_run,
        selected=len(originals),
        replayed=tuple(replayed),
        skipped=tuple(skipped),
        failed=tuple(failed),
    )
    details = report.to_dict()
    details.update(since=_iso(since), until=_iso(until), replayed=len(replayed))
    record_job_run(services, job=JOB, actor=actor, details=details)
    return report


def _replay_one(
    services: Services,
    original: dict[str, Any],
    actor: str,
    dry_run: bool,
    replayed: list[tuple[uuid.UUID, uuid.UUID]],
    skipped: list[tuple[uuid.UUID, str]],
    failed: list[tuple[uuid.UUID, str]],
) -> str:
    key = original["id"]
    if original["status"] in IN_FLIGHT:
        skipped.append((key, f"still {original['status']}"))
        return f"skipped: still {original['status']}"
    if dry_run:
        return "would replay"
    try:
        row = replay(services, key, actor=actor)
    except EventPulseError as exc:  # e.g. the raw object was pruned: report it and go on
        failed.append((key, exc.message))
        log.warning("replay of %s failed: %s", key, exc.message)
        return f"failed: {exc.message}"
    ended = _failure_of(services, row["id"])
    if ended is not None:
        failed.append((key, ended))
        log.warning("replay of %s failed: %s", key, ended)
        return f"failed: {ended}"
    replayed.append((key, row["id"]))
    return f"replayed as {row['id']}"


def _failure_of(services: Services, replay_id: uuid.UUID) -> str | None:
    """What went wrong when the replay already ended in a failed state; None otherwise."""
    with services.store.read() as tx:
        row = tx.ingestions.get(replay_id)
    if row is None or row["status"] not in ENDED_FAILED:
        return None
    error = row["error"] or {}
    reason = f": {error['message']}" if error.get("message") else ""
    return f"replay {replay_id} ended {row['status']}{reason}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

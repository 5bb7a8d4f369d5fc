"""Backpressure at the intake: while too many files wait for a worker, new ones are refused with 429.

Every intake route (uploads, device uploads, ``from_path``, ``from_gcs``) calls ``ensure_intake_open``
before it lands or registers anything, so a refused request leaves no trace and the caller retries
after ``Retry-After``; nothing already accepted is touched. The backlog is counted in the database
(so every API process sees the same queue) at most once per ``intake_backlog_cache_seconds`` per
process. See docs/RELIABILITY.md ("Backpressure").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventpulse.errors import Overloaded
from eventpulse.states import Status

if TYPE_CHECKING:
    from eventpulse.ports import Services
    from eventpulse.settings import Settings

log = logging.getLogger(__name__)

WAITING = (Status.RECEIVED.value, Status.FAILED_EXCEPTION.value)


@dataclass(frozen=True)
class Backlog:
    """Unfinished ingestions per source and state, as counted at ``measured_at`` (monotonic seconds)."""

    by_source: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    measured_at: float = 0.0

    def waiting(self, source: str | None = None) -> int:
        """Ingestions waiting for a worker: of one source, or of all."""
        sources = [source] if source is not None else list(self.by_source)
        return sum(self.by_source.get(s, {}).get(state, 0) for s in sources for state in WAITING)

    @property
    def processing(self) -> int:
        return sum(states.get(Status.PROCESSING.value, 0) for states in self.by_source.values())


class BacklogGauge:
    """The store's backlog, re-counted when the last count is older than ``ttl`` seconds (thread-safe)."""

    def __init__(
        self, count: Callable[[], Mapping[str, Mapping[str, int]]], *, ttl: float, clock: Callable[[], float]
    ) -> None:
        self._count, self._ttl, self._clock = count, ttl, clock
        self._lock = threading.Lock()
        self._last: Backlog | None = None

    def read(self) -> Backlog:
        with self._lock:  # one COUNT per interval even when many requests arrive at once
            now = self._clock()
            if self._last is None or now - self._last.measured_at >= self._ttl:
                self._last = Backlog(self._count_or_nothing(), now)
            return self._last

    def _count_or_nothing(self) -> Mapping[str, Mapping[str, int]]:
        # A backlog that cannot be counted (the database is down) sheds nothing: the request goes on
        # and meets the database's error where it always did; the failure is cached like a count.
        try:
            return self._count()
        except Exception as exc:
            log.warning(
                "the queue backlog cannot be counted (%s); the intake accepts files", type(exc).__name__
            )
            return {}


def build_gauge(services: Services) -> BacklogGauge:
    def count() -> Mapping[str, Mapping[str, int]]:
        with services.store.read() as tx:
            return tx.ingestions.count_backlog()

    return BacklogGauge(count, ttl=services.settings.intake_backlog_cache_seconds, clock=time.monotonic)


def decide_shed(backlog: Backlog, source: str, settings: Settings) -> Overloaded | None:
    """The refusal for a new file from ``source`` under ``backlog``, or None to accept it (pure)."""
    wait = settings.intake_retry_after_seconds
    total, limit = backlog.waiting(), settings.intake_max_waiting
    if limit and total >= limit:
        return Overloaded(
            f"the server is overloaded: {total:,} ingestions wait for a worker (limit {limit:,}); "
            "this file was not accepted",
            retry_after_seconds=wait,
            hint=f"send it again after {wait} s (Retry-After); nothing already accepted is lost. An "
            "operator adds workers, or raises EVENTPULSE_INTAKE_MAX_WAITING",
            details={"limit": "intake_max_waiting", "waiting": total, "maximum": limit},
        )
    mine, per_source = backlog.waiting(source), settings.intake_max_waiting_per_source
    if per_source and mine >= per_source:
        return Overloaded(
            f"source {source[:200]!r} has {mine:,} ingestions waiting for a worker (limit {per_source:,} "
            "per source); this file was not accepted",
            retry_after_seconds=wait,
            hint=f"send it again after {wait} s (Retry-After); other sources are still accepted. An "
            "operator adds workers, or raises EVENTPULSE_INTAKE_MAX_WAITING_PER_SOURCE",
            details={"limit": "intake_max_waiting_per_source", "source": source[:200], "waiting": mine},
        )
    return None


def describe_backlog(backlog: Backlog, settings: Settings) -> dict[str, Any]:
    """The queue depth as ``/readyz`` and ``/api/stats/queue`` show it."""
    per_source = settings.intake_max_waiting_per_source
    shed = sorted(s for s in backlog.by_source if per_source and backlog.waiting(s) >= per_source)
    limit = settings.intake_max_waiting
    return {
        "waiting": backlog.waiting(),
        "processing": backlog.processing,
        "max_waiting": limit,
        "max_waiting_per_source": per_source,
        "shedding": bool(limit and backlog.waiting() >= limit),
        "shedding_sources": shed,
    }

"""Trends API: ingestions, expectation pass rates and drift events per UTC time bucket.

The store aggregates in SQL (``Transaction.stats``) and returns every bucket of the window (for
expectations, one row per series with its points by bucket index); this module checks the window and
shapes the rows into buckets, groups and series. Quarantined rows over time join
when the quarantine table exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, get_args

from flask import Response, jsonify

from eventpulse.api.context import current_backlog, current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import MAX_BUCKETS, ExpectationTrendQuery, TrendQuery
from eventpulse.api.present import to_json_value
from eventpulse.api.resources import (
    DriftTrends,
    ExpectationTrends,
    IngestionTrends,
    QuarantineTrends,
    QueueStats,
)
from eventpulse.api.roles import VIEWER
from eventpulse.errors import BadRequest
from eventpulse.landing.backpressure import describe_backlog
from eventpulse.ports import Row, TrendWindow
from eventpulse.ports.store import BUCKET_LENGTH, TrendBucket
from eventpulse.schema.drift import ChangeKind, Outcome
from eventpulse.schema.naming import ensure_dataset_name
from eventpulse.states import LOADED_STATES, TERMINAL, Status

bp = Operations("stats", __name__, url_prefix="/api/stats")

DEFAULT_BUCKETS = 30
QUARANTINE_KINDS = ("expectation", "discard_row", "discard_value")
QUARANTINE_STATUSES = ("held", "replayed", "discarded")
WINDOW_HINT = "since and until are ISO 8601 instants or dates (UTC unless they carry an offset)"


@bp.operation("GET", "/queue", access=VIEWER, returns={200: QueueStats})
def queue_depth() -> Response:
    """The queue backlog now: waiting and processing ingestions, per source, and who is shed (429)."""
    backlog = current_backlog()
    body = describe_backlog(backlog, current_services().settings)
    by_source = {source: backlog.waiting(source) for source in sorted(backlog.by_source)}
    body["by_source"] = {source: n for source, n in by_source.items() if n}
    return jsonify(body)


@bp.operation("GET", "/ingestions", access=VIEWER, returns={200: IngestionTrends}, errors=(400,))
def ingestion_trends(query: TrendQuery) -> Response:
    """Ingestions per bucket: counts per status, success rate, rows loaded and bytes (throughput)."""
    window = build_window(query)
    with current_services().store.read() as tx:
        rows = tx.stats.ingestion_trends(window)
    return jsonify(shape_ingestions(window, rows))


@bp.operation("GET", "/expectations", access=VIEWER, returns={200: ExpectationTrends}, errors=(400,))
def expectation_trends(query: ExpectationTrendQuery) -> Response:
    """Pass rate of each expectation (type and column) of a dataset's quality reports, per bucket."""
    window = build_window(query, dataset=ensure_dataset_name(query.dataset))
    with current_services().store.read() as tx:
        rows = tx.stats.expectation_trends(window)
    return jsonify(shape_expectations(window, rows))


@bp.operation("GET", "/drift", access=VIEWER, returns={200: DriftTrends}, errors=(400,))
def drift_trends(query: TrendQuery) -> Response:
    """Drift events per bucket: ingestions whose schema changed, by decision outcome and change kind."""
    window = build_window(query)
    with current_services().store.read() as tx:
        rows = tx.stats.drift_trends(window)
    return jsonify(shape_drift(window, rows))


@bp.operation("GET", "/quarantine", access=VIEWER, returns={200: QuarantineTrends}, errors=(400,))
def quarantine_trends(query: TrendQuery) -> Response:
    """Quarantined rows per bucket: held back by an expectation, or traced by a discard policy."""
    window = build_window(query)
    with current_services().store.read() as tx:
        rows = tx.stats.quarantine_trends(window)
    return jsonify(shape_quarantine(window, rows))


def shape_quarantine(window: TrendWindow, rows: list[Row]) -> dict[str, Any]:
    buckets = []
    for start, facts in _by_bucket(rows).items():
        groups = [{"key": k, **_quarantine_counts(r for r in facts if r["grp"] == k)} for k in _keys(facts)]
        buckets.append({"start": start, **_quarantine_counts(facts), "groups": groups})
    facts = [r for r in rows if r["rows"] is not None]
    return {
        "window": _window_out(window),
        "buckets": buckets,
        "totals": _quarantine_counts(facts),
        "groups": _keys(facts),
    }


def _quarantine_counts(rows: Iterable[Row]) -> dict[str, Any]:
    kinds = dict.fromkeys(QUARANTINE_KINDS, 0)
    statuses = dict.fromkeys(QUARANTINE_STATUSES, 0)
    total = ingestions = 0
    for row in rows:
        if row["kind"] is None:  # the (bucket, group) total: distinct ingestions
            ingestions += int(row["ingestions"])
            continue
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + int(row["rows"])
        statuses[row["status"]] = statuses.get(row["status"], 0) + int(row["rows"])
        total += int(row["rows"])
    return {"rows": total, "ingestions": ingestions, "kinds": kinds, "statuses": statuses}


# --- the window -----------------------------------------------------------------------------------


def build_window(query: TrendQuery, *, dataset: str | None = None) -> TrendWindow:
    """The query's window in UTC; 400 when it is empty, out of range or has too many buckets."""
    try:
        until = _as_utc(query.until, "until") if query.until else current_services().clock.now()
        since = _as_utc(query.since, "since") if query.since else _default_since(until, query.bucket)
        window = TrendWindow(
            since=since,
            until=until,
            bucket=query.bucket,
            dataset=dataset or (query.dataset.lower() if query.dataset else None),
            source=query.source,
            group_by=query.group_by,
        )
        count = window.bucket_count()
    except OverflowError:
        raise BadRequest(
            "since/until is out of range",
            hint=WINDOW_HINT + ", between years 1 and 9999",
            details={"parameter": "since"},
        ) from None
    if since >= until:
        raise BadRequest(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
            hint=WINDOW_HINT,
            details={"parameter": "since"},
        )
    if count > MAX_BUCKETS:
        raise BadRequest(
            f"the window holds {count} {query.bucket} buckets, more than {MAX_BUCKETS}",
            hint="ask for a shorter window (since, until) or a longer bucket (hour, day, week)",
            details={"parameter": "bucket", "limit": MAX_BUCKETS},
        )
    return window


def _default_since(until: datetime, bucket: TrendBucket) -> datetime:
    """The start of the 30th bucket back: 29 whole buckets, then the one holding ``until``."""
    current = TrendWindow(since=until, until=until, bucket=bucket).first_bucket()
    return current - (DEFAULT_BUCKETS - 1) * BUCKET_LENGTH[bucket]


def _as_utc(value: datetime, name: str) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"{name} is out of range", hint=WINDOW_HINT, details={"parameter": name}) from None


def _window_out(window: TrendWindow) -> dict[str, Any]:
    return {
        "since": window.since,
        "until": window.until,
        "bucket": window.bucket,
        "time_zone": "UTC",
        "dataset": window.dataset,
        "source": window.source,
        "group_by": window.group_by,
    }


def _by_bucket(rows: Iterable[Row]) -> dict[datetime, list[Row]]:
    """Rows per bucket start, oldest first; a bucket without facts maps to []."""
    out: dict[datetime, list[Row]] = {}
    for row in rows:
        facts = out.setdefault(row["bucket"], [])
        if any(v is not None for k, v in row.items() if k not in ("bucket", "grp")):
            facts.append(row)
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


# --- ingestions -----------------------------------------------------------------------------------

_FINAL = {s.value for s in TERMINAL}


def _counts(rows: Iterable[Row]) -> dict[str, Any]:
    statuses = dict.fromkeys((s.value for s in Status), 0)
    rows_loaded = size = 0
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + int(row["ingestions"])
        rows_loaded += int(row["rows_loaded"])
        size += int(row["bytes"])
    total = sum(statuses.values())
    finished = sum(n for s, n in statuses.items() if s in _FINAL)
    loaded = sum(statuses[s.value] for s in LOADED_STATES)  # a partial load loaded its good rows
    return {
        "ingestions": total,
        "statuses": statuses,
        "finished": finished,
        "loaded": loaded,
        "success_rate": _rate(loaded, finished),
        "rows_loaded": rows_loaded,
        "bytes": size,
    }


def _keys(rows: Iterable[Row]) -> list[str]:
    return sorted({str(r["grp"]) for r in rows if r["grp"] is not None})


def shape_ingestions(window: TrendWindow, rows: list[Row]) -> dict[str, Any]:
    buckets = []
    for start, facts in _by_bucket(rows).items():
        groups = [{"key": k, **_counts(r for r in facts if r["grp"] == k)} for k in _keys(facts)]
        buckets.append({"start": start, **_counts(facts), "groups": groups})
    facts = [r for r in rows if r["status"] is not None]
    return {
        "window": _window_out(window),
        "buckets": buckets,
        "totals": _counts(facts),
        "groups": _keys(facts),
    }


# --- expectations ---------------------------------------------------------------------------------


def shape_expectations(window: TrendWindow, rows: list[Row]) -> dict[str, Any]:
    # Encoded once per bucket rather than once per point (7,000 points for 3 groups x 26 x 90 days).
    starts = [to_json_value(start) for start in window.bucket_starts()]
    series = []
    for row in rows:
        # Every bucket of the window is a point; the store sends only those with reports.
        buckets = [{"start": start, **_NO_REPORTS} for start in starts]
        evaluated = passed = 0
        for index, n_evaluated, n_passed, unexpected in row["buckets"]:
            buckets[index] = {
                "start": starts[index],
                "evaluated": n_evaluated,
                "passed": n_passed,
                "pass_rate": _rate(n_passed, n_evaluated),
                "unexpected_rows": unexpected,
            }
            evaluated += n_evaluated
            passed += n_passed
        series.append(
            {
                "expectation_type": row["expectation_type"],
                "column": row["column_name"],
                "severity": row["severity"],
                "group": row["grp"],
                "evaluated": evaluated,
                "passed": passed,
                "pass_rate": _rate(passed, evaluated),
                "buckets": buckets,
            }
        )
    series.sort(key=lambda s: (s["group"] or "", s["expectation_type"], s["column"], s["severity"]))
    return {"window": _window_out(window), "series": series}


_NO_REPORTS = {"evaluated": 0, "passed": 0, "pass_rate": None, "unexpected_rows": 0}


# --- drift ----------------------------------------------------------------------------------------


def _drift_counts(rows: Iterable[Row]) -> dict[str, Any]:
    outcomes = dict.fromkeys(get_args(Outcome), 0)
    kinds = dict.fromkeys(get_args(ChangeKind), 0)
    for row in rows:
        if row["outcome"] is not None:  # a (bucket, group, outcome) grouping set: distinct ingestions
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + int(row["ingestions"])
        elif row["kind"] is not None:  # a (bucket, group, kind) grouping set: changes
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + int(row["changes"])
    return {"events": sum(outcomes.values()), "outcomes": outcomes, "kinds": kinds}


def shape_drift(window: TrendWindow, rows: list[Row]) -> dict[str, Any]:
    buckets = []
    for start, facts in _by_bucket(rows).items():
        groups = [{"key": k, **_drift_counts(r for r in facts if r["grp"] == k)} for k in _keys(facts)]
        buckets.append({"start": start, **_drift_counts(facts), "groups": groups})
    facts = [r for r in rows if r["outcome"] is not None or r["kind"] is not None]
    return {
        "window": _window_out(window),
        "buckets": buckets,
        "totals": _drift_counts(facts),
        "groups": _keys(facts),
    }

"""The ``Statistics`` port on Postgres: trends aggregated in SQL, with every bucket of the window filled.

Buckets are ``date_trunc(<unit>, created_at, 'UTC')`` joined to a ``generate_series`` of the window's
bucket starts, so an empty bucket is a row too. Quality and drift trends read the compact facts of
migration 0006 (``quality_results``, ``drift_changes``), which ``write_trend_facts`` derives from the
artifacts in the transaction that saves them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    null,
    select,
    text,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from eventpulse.adapters.postgres.tables import drift_changes, ingestions, quality_results
from eventpulse.ports import Row, TrendWindow
from eventpulse.ports.store import BUCKET_LENGTH

GROUP_COLUMNS: dict[str, Any] = {
    "status": ingestions.c.status,
    "dataset": ingestions.c.dataset,
    "source": ingestions.c.source,
}
"""What ``group_by`` may name; a device column is one more entry here (and in ``TrendGroup``)."""

# The same statements as migration 0006's backfill, for one ingestion (its artifacts were just saved).
_QUALITY_FACTS = text(
    """
    INSERT INTO quality_results
        (ingestion_id, position, expectation_type, column_name, severity, success, unexpected_count)
    SELECT a.ingestion_id, r.position - 1, r.value ->> 'expectation_type',
           COALESCE(r.value -> 'kwargs' ->> 'column',
                    (SELECT string_agg(c, ',') FROM jsonb_array_elements_text(
                        CASE jsonb_typeof(r.value -> 'kwargs' -> 'column_list')
                            WHEN 'array' THEN r.value -> 'kwargs' -> 'column_list' END) AS c),
                    concat_ws(',', r.value -> 'kwargs' ->> 'column_A', r.value -> 'kwargs' ->> 'column_B')),
           COALESCE(r.value ->> 'severity', 'critical'), (r.value ->> 'success')::boolean,
           COALESCE((r.value ->> 'unexpected_count')::bigint, 0)
    FROM ingestion_artifacts a,
         jsonb_array_elements(CASE jsonb_typeof(a.body -> 'results')
                                  WHEN 'array' THEN a.body -> 'results' ELSE '[]'::jsonb END)
             WITH ORDINALITY AS r(value, position)
    WHERE a.kind = 'quality' AND a.ingestion_id = :ingestion_id
    """
)
_DRIFT_FACTS = text(
    """
    INSERT INTO drift_changes (ingestion_id, position, outcome, kind, column_name, breaking)
    SELECT a.ingestion_id, c.position - 1, a.body -> 'decision' ->> 'outcome', c.value ->> 'kind',
           COALESCE(c.value ->> 'column', ''), COALESCE((c.value ->> 'breaking')::boolean, false)
    FROM ingestion_artifacts a,
         jsonb_array_elements(CASE jsonb_typeof(a.body -> 'decision' -> 'changes')
                                  WHEN 'array' THEN a.body -> 'decision' -> 'changes' ELSE '[]'::jsonb END)
             WITH ORDINALITY AS c(value, position)
    WHERE a.kind = 'drift' AND a.ingestion_id = :ingestion_id
    """
)


def write_trend_facts(conn: Connection, ingestion_id: uuid.UUID, kinds: set[str]) -> None:
    """Replace the ingestion's quality and drift facts by those of the artifacts it now has."""
    for kind, table, insert in (
        ("quality", quality_results, _QUALITY_FACTS),
        ("drift", drift_changes, _DRIFT_FACTS),
    ):
        if kind in kinds:
            conn.execute(table.delete().where(table.c.ingestion_id == ingestion_id))
            conn.execute(insert, {"ingestion_id": ingestion_id})


class PgStatistics:
    def __init__(self, conn: Connection):
        self._conn = conn

    def ingestion_trends(self, window: TrendWindow) -> list[Row]:
        facts = (
            select(
                _bucket_of(window).label("bucket"),
                _group_of(window).label("grp"),
                ingestions.c.status,
                func.count().label("ingestions"),
                func.coalesce(func.sum(ingestions.c.rows_loaded), 0).label("rows_loaded"),
                func.sum(ingestions.c.size_bytes).label("bytes"),
            )
            .where(*_in_window(window))
            .group_by(literal_column("1"), literal_column("2"), ingestions.c.status)
        )
        return self._filled(window, facts, order=("grp", "status"))

    def expectation_trends(self, window: TrendWindow) -> list[Row]:
        q = quality_results
        facts = (
            select(
                _bucket_of(window).label("bucket"),
                _group_of(window).label("grp"),
                q.c.expectation_type,
                q.c.column_name,
                q.c.severity,
                func.count().label("evaluated"),
                func.count().filter(q.c.success).label("passed"),
                func.sum(q.c.unexpected_count).label("unexpected_rows"),
            )
            .select_from(ingestions.join(q, q.c.ingestion_id == ingestions.c.id))
            .where(*_in_window(window))
            .group_by(
                literal_column("1"), literal_column("2"), q.c.expectation_type, q.c.column_name, q.c.severity
            )
        )
        return self._filled(window, facts, order=("grp", "expectation_type", "column_name", "severity"))

    def drift_trends(self, window: TrendWindow) -> list[Row]:
        d = drift_changes
        bucket, grp = _bucket_of(window), _group_of(window)
        keys = (bucket,) if window.group_by is None else (bucket, grp)  # Postgres refuses GROUP BY NULL
        facts = (
            select(
                bucket.label("bucket"),
                grp.label("grp"),
                d.c.outcome,
                d.c.kind,
                func.count(d.c.ingestion_id.distinct()).label("ingestions"),
                func.count().label("changes"),
            )
            .select_from(ingestions.join(d, d.c.ingestion_id == ingestions.c.id))
            .where(*_in_window(window))
            .group_by(func.grouping_sets(tuple_(*keys, d.c.outcome), tuple_(*keys, d.c.kind)))
        )
        return self._filled(window, facts, order=("grp", "outcome", "kind"))

    def _filled(self, window: TrendWindow, facts: Select[Any], *, order: tuple[str, ...]) -> list[Row]:
        """``facts`` left-joined to every bucket start of the window (oldest first)."""
        buckets = select(_bucket_series(window).label("bucket")).subquery("buckets")
        f = facts.subquery("facts")
        stmt = (
            select(buckets.c.bucket, *[c for c in f.c if c.name != "bucket"])
            .select_from(buckets.outerjoin(f, f.c.bucket == buckets.c.bucket))
            .order_by(buckets.c.bucket, *[f.c[name].nulls_first() for name in order])
        )
        return [dict(r._mapping) for r in self._conn.execute(stmt)]


def _unit(window: TrendWindow) -> ColumnElement[Any]:
    # A literal, not a bind parameter: GROUP BY must see the same expression as the select list.
    if window.bucket not in BUCKET_LENGTH:
        raise ValueError(f"unknown bucket {window.bucket!r}")
    return literal_column(f"'{window.bucket}'")


def _instant(name: str, value: object) -> Any:
    return bindparam(name, value, type_=DateTime(timezone=True))


def _bucket_of(window: TrendWindow) -> ColumnElement[Any]:
    return func.date_trunc(_unit(window), ingestions.c.created_at, literal_column("'UTC'"))


def _bucket_series(window: TrendWindow) -> ColumnElement[Any]:
    # Fixed-length steps (hours), so a session time zone with daylight saving cannot shift a bucket.
    step = func.make_interval(0, 0, 0, 0, int(BUCKET_LENGTH[window.bucket].total_seconds() // 3600))
    first = func.date_trunc(_unit(window), _instant("series_since", window.since), literal_column("'UTC'"))
    last = _instant("series_until", window.until) - text("interval '1 microsecond'")
    return func.generate_series(first, last, step)


def _group_of(window: TrendWindow) -> ColumnElement[Any]:
    if window.group_by is None:
        return null()
    column: ColumnElement[Any] = GROUP_COLUMNS[window.group_by]
    return column


def _in_window(window: TrendWindow) -> list[ColumnElement[bool]]:
    where = [
        ingestions.c.created_at >= _instant("since", window.since),
        ingestions.c.created_at < _instant("until", window.until),
    ]
    if window.dataset is not None:
        where.append(ingestions.c.dataset == window.dataset)
    if window.source is not None:
        where.append(ingestions.c.source == window.source)
    return [and_(*where)]

"""The ``Statistics`` port on Postgres: trends aggregated in SQL, with every bucket of the window filled.

Buckets are ``date_trunc(<unit>, created_at, 'UTC')`` joined to a ``generate_series`` of the window's
bucket starts, so an empty bucket is a row too. Quality and drift trends read the compact facts of
migration 0006 (``quality_summaries``, ``drift_changes``), which ``write_trend_facts`` derives from the
artifacts in the transaction that saves them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Select,
    Text,
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
from sqlalchemy.sql.selectable import TextualSelect

from eventpulse.adapters.postgres.tables import drift_changes, ingestions, quality_summaries, quarantined_rows
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
    WITH results AS (
        SELECT a.ingestion_id, (r.position - 1)::integer AS position, r.value ->> 'expectation_type' AS kind,
               COALESCE(r.value -> 'kwargs' ->> 'column',
                      (SELECT string_agg(c, ',') FROM jsonb_array_elements_text(
                          CASE jsonb_typeof(r.value -> 'kwargs' -> 'column_list')
                              WHEN 'array' THEN r.value -> 'kwargs' -> 'column_list' END) AS c),
                      concat_ws(',', r.value -> 'kwargs' ->> 'column_A',
                            r.value -> 'kwargs' ->> 'column_B')) AS column_name,
               COALESCE(r.value ->> 'severity', 'critical') AS severity,
               COALESCE((r.value ->> 'success')::boolean, false) AS success,
               COALESCE((r.value ->> 'unexpected_count')::bigint, 0) AS unexpected
        FROM ingestion_artifacts a,
             jsonb_array_elements(CASE jsonb_typeof(a.body -> 'results')
                                      WHEN 'array' THEN a.body -> 'results' ELSE '[]'::jsonb END)
                 WITH ORDINALITY AS r(value, position)
        WHERE a.kind = 'quality' AND a.ingestion_id = :ingestion_id
    ), summaries AS (
        SELECT ingestion_id,
               array_agg(kind ORDER BY position) AS kinds,
               array_agg(column_name ORDER BY position) AS column_names,
               array_agg(severity ORDER BY position) AS severities,
               COALESCE(array_agg(position ORDER BY position) FILTER (WHERE NOT success), '{}') AS failed,
               COALESCE(array_agg(unexpected ORDER BY position) FILTER (WHERE NOT success), '{}')
               AS unexpected
        FROM results GROUP BY ingestion_id
    ), keyed AS (
        SELECT *, md5(array_to_json(kinds)::text || array_to_json(column_names)::text
                      || array_to_json(severities)::text) AS expectation_set
        FROM summaries
    ), sets AS (
        INSERT INTO expectation_sets (id, expectation_types, column_names, severities)
        SELECT DISTINCT expectation_set, kinds, column_names, severities FROM keyed
        ON CONFLICT (id) DO NOTHING
    )
    INSERT INTO quality_summaries (ingestion_id, expectation_set, failed, unexpected)
    SELECT ingestion_id, expectation_set, failed, unexpected FROM keyed
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


# Ordinary and partitioned tables outside the system schemas; reltuples is -1 before the first ANALYZE.
_TABLE_SIZES = text(
    """
    SELECT n.nspname AS schema, c.relname AS "table",
           CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS rows_estimate,
           pg_total_relation_size(c.oid) AS total_bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      AND n.nspname NOT LIKE 'pg_temp%'
    ORDER BY total_bytes DESC, schema, "table"
    """
)


def write_trend_facts(conn: Connection, ingestion_id: uuid.UUID, kinds: set[str]) -> None:
    """Replace the ingestion's quality and drift facts by those of the artifacts it now has."""
    for kind, table, insert in (
        ("quality", quality_summaries, _QUALITY_FACTS),
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
        # Reports are counted per (bucket, group, expectation list), then each list is unnested once:
        # the unnesting grows with buckets x lists (contract versions), not with ingestions. Failures
        # are added in the same aggregate (UNION ALL, their expectation by array subscript), which
        # the planner hashes once instead of sorting both sides of a join per position. Each series
        # leaves as one JSON array of its points: decoding one row per point through pg8000 cost
        # more than the aggregate itself (docs/BENCHMARKS.md).
        where, params = _text_window(window)
        unit, grp = f"'{_checked_unit(window)}'", _group_sql(window)
        step = int(BUCKET_LENGTH[window.bucket].total_seconds())
        facts = text(
            f"""
            WITH reports AS (
                SELECT date_trunc({unit}, i.created_at, 'UTC') AS bucket, {grp} AS grp,
                       s.expectation_set, s.failed, s.unexpected
                FROM ingestions i JOIN quality_summaries s ON s.ingestion_id = i.id
                WHERE {where}
            ), counted AS (
                SELECT r.bucket, r.grp, e.expectation_type, e.column_name, e.severity,
                       r.reports AS evaluated, 0::bigint AS failed, 0::bigint AS unexpected
                FROM (SELECT bucket, grp, expectation_set, count(*) AS reports
                      FROM reports GROUP BY 1, 2, 3) r
                JOIN expectation_sets x ON x.id = r.expectation_set
                CROSS JOIN LATERAL unnest(x.expectation_types, x.column_names, x.severities)
                    AS e(expectation_type, column_name, severity)
                UNION ALL
                SELECT r.bucket, r.grp, x.expectation_types[f.position + 1], x.column_names[f.position + 1],
                       x.severities[f.position + 1], 0, 1, f.unexpected
                FROM reports r JOIN expectation_sets x ON x.id = r.expectation_set,
                     unnest(r.failed, r.unexpected) AS f(position, unexpected)
                WHERE f.position < cardinality(x.expectation_types)
            ), points AS (
                SELECT bucket, grp, expectation_type, column_name, severity, sum(evaluated) AS evaluated,
                       sum(evaluated) - sum(failed) AS passed, sum(unexpected) AS unexpected_rows
                FROM counted
                GROUP BY 1, 2, 3, 4, 5
            )
            SELECT grp, expectation_type, column_name, severity,
                   json_agg(json_build_array(
                       (extract(epoch FROM bucket) - extract(epoch FROM :first_bucket))::bigint / {step},
                       evaluated, passed, unexpected_rows) ORDER BY bucket)::text AS buckets
            FROM points
            GROUP BY 1, 2, 3, 4
            """
        ).bindparams(*params, _instant("first_bucket", window.first_bucket()))
        series = facts.columns(grp=Text, expectation_type=Text, column_name=Text, severity=Text, buckets=Text)
        return [{**row._mapping, "buckets": json.loads(row.buckets)} for row in self._conn.execute(series)]

    def drift_trends(self, window: TrendWindow) -> list[Row]:
        d = drift_changes
        bucket, grp, keys = _bucket_group_keys(window)
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

    def device_schemas(
        self, dataset: str, *, source: str | None, prefix: str, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        # ix_ingestions_dataset_created narrows to the dataset; one row per (source, fingerprint).
        where = [
            ingestions.c.dataset == dataset,
            ingestions.c.schema_fingerprint.is_not(None),
            ingestions.c.source == source
            if source is not None
            else ingestions.c.source.startswith(prefix, autoescape=True),
        ]
        first_seen = func.min(ingestions.c.created_at)
        fingerprint = ingestions.c.schema_fingerprint
        pairs = (
            select(
                ingestions.c.source,
                ingestions.c.schema_fingerprint,
                first_seen.label("first_seen"),
                func.max(ingestions.c.created_at).label("last_seen"),
                func.count().label("ingestions"),
                func.row_number()
                .over(partition_by=ingestions.c.source, order_by=(first_seen, fingerprint))
                .label("nth"),
            )
            .where(*where)
            .group_by(ingestions.c.source, ingestions.c.schema_fingerprint)
            .subquery()
        )
        total = int(self._conn.execute(select(func.count()).select_from(pairs)).scalar_one())
        page = (
            select(pairs)
            .order_by(pairs.c.source, pairs.c.first_seen, pairs.c.schema_fingerprint)
            .limit(limit)
            .offset(offset)
        )
        return [dict(r) for r in self._conn.execute(page).mappings()], total

    def quarantine_trends(self, window: TrendWindow) -> list[Row]:
        q = quarantined_rows
        bucket, grp, keys = _bucket_group_keys(window)
        # Rows per (kind, status), and per bucket and group alone the distinct ingestions they came from.
        facts = (
            select(
                bucket.label("bucket"),
                grp.label("grp"),
                q.c.kind,
                q.c.status,
                func.count().label("rows"),
                func.count(q.c.ingestion_id.distinct()).label("ingestions"),
            )
            .select_from(ingestions.join(q, q.c.ingestion_id == ingestions.c.id))
            .where(*_in_window(window))
            .group_by(func.grouping_sets(tuple_(*keys, q.c.kind, q.c.status), tuple_(*keys)))
        )
        return self._filled(window, facts, order=("grp", "kind", "status"))

    def table_sizes(self) -> list[Row]:
        rows = self._conn.execute(_TABLE_SIZES).mappings()
        return [dict(r) for r in rows]

    def _filled(
        self, window: TrendWindow, facts: Select[Any] | TextualSelect, *, order: tuple[str, ...]
    ) -> list[Row]:
        """``facts`` left-joined to every bucket start of the window (oldest first)."""
        buckets = select(_bucket_series(window).label("bucket")).subquery("buckets")
        f = facts.subquery("facts")
        stmt = (
            select(buckets.c.bucket, *[c for c in f.c if c.name != "bucket"])
            .select_from(buckets.outerjoin(f, f.c.bucket == buckets.c.bucket))
            .order_by(buckets.c.bucket, *[f.c[name].nulls_first() for name in order])
        )
        return [dict(r._mapping) for r in self._conn.execute(stmt)]


def _checked_unit(window: TrendWindow) -> str:
    if window.bucket not in BUCKET_LENGTH:
        raise ValueError(f"unknown bucket {window.bucket!r}")
    return window.bucket


def _unit(window: TrendWindow) -> ColumnElement[Any]:
    # A literal, not a bind parameter: GROUP BY must see the same expression as the select list.
    return literal_column(f"'{_checked_unit(window)}'")


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


def _bucket_group_keys(
    window: TrendWindow,
) -> tuple[ColumnElement[Any], ColumnElement[Any], tuple[ColumnElement[Any], ...]]:
    """The bucket and group expressions, and the grouping keys of a GROUPING SETS aggregate."""
    bucket, grp = _bucket_of(window), _group_of(window)
    keys = (bucket,) if window.group_by is None else (bucket, grp)  # Postgres refuses GROUP BY NULL
    return bucket, grp, keys


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


def _group_sql(window: TrendWindow) -> str:
    if window.group_by is None:
        return "NULL::text"
    return f"i.{GROUP_COLUMNS[window.group_by].name}"


def _text_window(window: TrendWindow) -> tuple[str, list[Any]]:
    """``_in_window`` for a textual statement on ``ingestions i``: its condition and parameters."""
    where = ["i.created_at >= :since", "i.created_at < :until"]
    params = [_instant("since", window.since), _instant("until", window.until)]
    if window.dataset is not None:
        where.append("i.dataset = :dataset")
        params.append(bindparam("dataset", window.dataset))
    if window.source is not None:
        where.append("i.source = :source")
        params.append(bindparam("source", window.source))
    return " AND ".join(where), params

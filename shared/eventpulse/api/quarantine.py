"""Quarantine API: list and export held (and discarded) rows, replay them after a fix, or discard them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import Response, jsonify, stream_with_context

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import (
    DiscardBody,
    QuarantineFilterQuery,
    QuarantineQuery,
    QuarantineSelection,
)
from eventpulse.api.present import present_ingestion, to_json_value
from eventpulse.api.resources import QuarantineDiscarded, QuarantinePage, QuarantineReplayed
from eventpulse.api.roles import OPERATOR, VIEWER
from eventpulse.pipeline.quarantine_actions import build_selection, discard_rows, request_replay
from eventpulse.ports import QuarantineFilter, Services

bp = Operations("quarantine", __name__, url_prefix="/api")

EXPORT_PAGE = 1_000
CSV_COLUMNS = (
    "id",
    "ingestion_id",
    "dataset",
    "source_row",
    "sheet",
    "kind",
    "status",
    "expectations",
    "failures",
    "values",
    "contract_version",
    "raw_uri",
    "device_id",
    "resolved_by",
    "resolved_at",
    "resolution_reason",
    "replay_ingestion_id",
    "created_at",
)
CSV_RESPONSE = {
    "description": "the matching rows as CSV, oldest first (failures and values as JSON)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


def _filter(query: QuarantineFilterQuery) -> QuarantineFilter:
    return QuarantineFilter(
        dataset=query.dataset.lower() if query.dataset else None,
        ingestion_id=query.ingestion_id,
        expectation=query.expectation,
        device_id=query.device_id,
        status=query.status,
        kind=query.kind,
    )


@bp.operation("GET", "/quarantine", access=VIEWER, returns={200: QuarantinePage}, errors=(400,))
def list_quarantine(query: QuarantineQuery) -> Response:
    """Quarantined rows, oldest first, filtered; page with ``cursor`` = the previous ``next_cursor``."""
    where = _filter(query)
    with current_services().store.read() as tx:
        items = tx.quarantine.page(where, limit=query.limit + 1, after=query.cursor)
        total = tx.quarantine.count(where)
    more = len(items) > query.limit
    items = items[: query.limit]
    next_cursor = items[-1]["id"] if more else None
    return jsonify({"items": items, "total": total, "limit": query.limit, "next_cursor": next_cursor})


@bp.operation("GET", "/quarantine/export", access=VIEWER, returns={200: CSV_RESPONSE}, errors=(400,))
def export_quarantine(query: QuarantineFilterQuery) -> Response:
    """Every matching quarantined row as CSV, streamed page by page (not capped)."""
    rows = _csv_lines(current_services(), _filter(query))
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="quarantine.csv"'},
    )


@bp.operation(
    "POST",
    "/quarantine/replay",
    access=OPERATOR,
    returns={202: QuarantineReplayed},
    errors=(400, 404),
    body=QuarantineSelection,
)
def replay_quarantine(body: QuarantineSelection) -> tuple[Response, int]:
    """Revalidate held rows from the raw file under the current contract; load those that pass.

    One new ingestion per original ingestion (``replay_of`` = the original) reads only the held rows.
    Rows that pass become ``replayed``; rows that fail again stay ``held`` with their new failures.
    """
    services = current_services()
    where = build_selection(**body.model_dump())
    replay = request_replay(services, where, actor=current_actor())
    with services.store.read() as tx:  # the inline queue may have processed them already
        rows = [tx.ingestions.get(r["id"]) or r for r in replay.ingestions]
    answer = {
        "rows": replay.rows,
        "remaining": replay.remaining,
        "ingestions": [present_ingestion(r) for r in rows],
    }
    return jsonify(answer), 202


@bp.operation(
    "POST",
    "/quarantine/discard",
    access=OPERATOR,
    returns={200: QuarantineDiscarded},
    errors=(400,),
    body=DiscardBody,
)
def discard_quarantine(body: DiscardBody) -> Response:
    """Drop held rows for good, with a reason (audited); they stay listed as ``discarded``."""
    selection = body.model_dump(exclude={"reason"})
    ids = discard_rows(
        current_services(), build_selection(**selection), reason=body.reason, actor=current_actor()
    )
    return jsonify({"discarded": len(ids), "ids": ids})


def _csv_lines(services: Services, where: QuarantineFilter) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after: int | None = None
    while True:
        with services.store.read() as tx:
            page = tx.quarantine.page(where, limit=EXPORT_PAGE, after=after)
        for row in page:
            writer.writerow(_csv_row(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(page) < EXPORT_PAGE:
            return
        after = int(page[-1]["id"])


def _csv_row(row: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for column in CSV_COLUMNS:
        if column == "expectations":
            out.append(" ".join(str(f.get("expectation_type")) for f in row["failures"]))
        elif column in ("failures", "values"):
            out.append(json.dumps(row[column], ensure_ascii=False, sort_keys=True))
        elif row[column] is None:
            out.append("")
        elif isinstance(row[column], str | int):
            out.append(row[column])
        else:
            out.append(to_json_value(row[column]))
    return out

"""Read API: ingestions (with their quality, drift and lineage artifacts), datasets, schemas, audit log."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import (
    AuditQuery,
    DatasetPath,
    IngestionPath,
    IngestionQuery,
    SampleQuery,
    page_body,
    parse_statuses,
)
from eventpulse.api.present import present_ingestion, present_ingestion_detail
from eventpulse.api.resources import (
    AuditPage,
    CuratedSample,
    DatasetList,
    IngestionDetail,
    IngestionPage,
    SchemaHistory,
)
from eventpulse.api.roles import VIEWER
from eventpulse.contracts.registry import known_datasets
from eventpulse.curate.ddl import RESERVED_COLUMN_NAMES, curated_table_name
from eventpulse.errors import NotFound
from eventpulse.schema.naming import ensure_dataset_name

bp = Operations("read", __name__, url_prefix="/api")


@bp.operation("GET", "/ingestions", access=VIEWER, returns={200: IngestionPage}, errors=(400,))
def list_ingestions(query: IngestionQuery) -> Response:
    """Ingestions, newest first, filtered by dataset, status and source."""
    statuses = parse_statuses(query.status)
    dataset = query.dataset.lower() if query.dataset else None
    with current_services().store.read() as tx:
        page = tx.ingestions.page(
            dataset=dataset, statuses=statuses, source=query.source, limit=query.limit, offset=query.offset
        )
    items = [present_ingestion(r) for r in page.items]
    return jsonify(page_body(items, page.total, query.limit, query.offset))


@bp.operation(
    "GET", "/ingestions/<ingestion_id>", access=VIEWER, returns={200: IngestionDetail}, errors=(400, 404)
)
def get_ingestion(path: IngestionPath) -> Response:
    """One ingestion with its quality, drift and lineage artifacts."""
    key = path.ingestion_id
    with current_services().store.read() as tx:
        row = tx.ingestions.get(key)
        if row is None:
            raise NotFound(f"ingestion {key} does not exist", hint="list ingestions with GET /api/ingestions")
        artifacts = tx.ingestions.artifacts(key)
    return jsonify(present_ingestion_detail(row, artifacts))


@bp.operation("GET", "/datasets", access=VIEWER, returns={200: DatasetList})
def list_datasets() -> Response:
    """Datasets with at least one ingestion, then those with a contract but none yet."""
    services = current_services()
    with services.store.read() as tx:
        rows = tx.schemas.list_datasets()
    contracts = set(known_datasets(services))
    items: list[dict[str, Any]] = [{**r, "has_contract": r["name"] in contracts} for r in rows]
    # A dataset with a contract but no ingestion yet is still a dataset a client can upload to.
    known = {r["name"] for r in rows}
    items += [
        {"name": name, "ingestions": 0, "last_ingestion_at": None, "has_contract": True}
        for name in sorted(contracts - known)
    ]
    return jsonify({"items": items, "total": len(items)})


@bp.operation(
    "GET", "/datasets/<dataset>/schemas", access=VIEWER, returns={200: SchemaHistory}, errors=(400, 404)
)
def list_schemas(path: DatasetPath) -> Response:
    """The dataset's accepted schema history, oldest version first."""
    services = current_services()
    name = ensure_dataset_name(path.dataset)
    with services.store.read() as tx:
        rows = tx.schemas.history(name)
    if not rows and name not in known_datasets(services):
        raise NotFound(f"dataset {name!r} does not exist", hint="list datasets with GET /api/datasets")
    return jsonify({"dataset": name, "items": rows, "total": len(rows)})


@bp.operation(
    "GET", "/datasets/<dataset>/sample", access=VIEWER, returns={200: CuratedSample}, errors=(400, 404)
)
def curated_sample(path: DatasetPath, query: SampleQuery) -> Response:
    """A page of the dataset's curated rows, lineage columns included (`ingestion_id`: only its rows)."""
    services = current_services()
    name = ensure_dataset_name(path.dataset)
    table = curated_table_name(name)
    with services.store.read() as tx:
        columns = tx.curated.columns(table)
        if not columns and not tx.schemas.history(name) and name not in known_datasets(services):
            raise NotFound(f"dataset {name!r} does not exist", hint="list datasets with GET /api/datasets")
        where = {"_ingestion_id": query.ingestion_id} if query.ingestion_id else None
        # One ingestion reads in its file's order; the whole table newest load first.
        order = ("_source_row",) if where else ("_loaded_at", "_ingestion_id", "_source_row")
        page = tx.curated.preview(
            table, order_by=order, limit=query.limit, offset=query.offset, where=where, descending=not where
        )
    described = [{"name": c, "type": t, "lineage": c in RESERVED_COLUMN_NAMES} for c, t in columns.items()]
    described.sort(key=lambda c: bool(c["lineage"]))
    body = page_body(page.items, page.total, query.limit, query.offset)
    return jsonify({"dataset": name, "table": table, "columns": described, **body})


@bp.operation("GET", "/audit_events", access=VIEWER, returns={200: AuditPage}, errors=(400,))
def list_audit_events(query: AuditQuery) -> Response:
    """The audit log, newest first: who did what, and when."""
    with current_services().store.read() as tx:
        page = tx.audit.page(
            dataset=query.dataset,
            entity_id=query.entity_id,
            action=query.action,
            limit=query.limit,
            offset=query.offset,
        )
    return jsonify(page_body(page.items, page.total, query.limit, query.offset))

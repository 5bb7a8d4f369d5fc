"""Read API: ingestions (with their quality, drift and lineage artifacts), datasets, schemas, audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from eventpulse.api.context import current_services
from eventpulse.api.params import page_args, page_body, parse_uuid, statuses_arg, text_arg
from eventpulse.api.present import present_ingestion, present_ingestion_detail
from eventpulse.contracts.loader import list_contracts
from eventpulse.errors import NotFound
from eventpulse.schema.naming import ensure_dataset_name

bp = Blueprint("read", __name__, url_prefix="/api")


@bp.get("/ingestions")
def list_ingestions() -> Response:
    limit, offset = page_args()
    dataset = text_arg("dataset")
    statuses = statuses_arg()
    with current_services().store.read() as tx:
        page = tx.ingestions.page(
            dataset=dataset.lower() if dataset else None, statuses=statuses, limit=limit, offset=offset
        )
    return jsonify(page_body([present_ingestion(r) for r in page.items], page.total, limit, offset))


@bp.get("/ingestions/<ingestion_id>")
def get_ingestion(ingestion_id: str) -> Response:
    key = parse_uuid(ingestion_id)
    with current_services().store.read() as tx:
        row = tx.ingestions.get(key)
        if row is None:
            raise NotFound(f"ingestion {key} does not exist", hint="list ingestions with GET /api/ingestions")
        artifacts = tx.ingestions.artifacts(key)
    return jsonify(present_ingestion_detail(row, artifacts))


@bp.get("/datasets")
def list_datasets() -> Response:
    services = current_services()
    with services.store.read() as tx:
        rows = tx.schemas.list_datasets()
    contracts = set(list_contracts(services.settings.contracts_dir))
    items: list[dict[str, Any]] = [{**r, "has_contract": r["name"] in contracts} for r in rows]
    # A dataset with a contract but no ingestion yet is still a dataset a client can upload to.
    known = {r["name"] for r in rows}
    items += [
        {"name": name, "ingestions": 0, "last_ingestion_at": None, "has_contract": True}
        for name in sorted(contracts - known)
    ]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/datasets/<dataset>/schemas")
def list_schemas(dataset: str) -> Response:
    services = current_services()
    name = ensure_dataset_name(dataset)
    with services.store.read() as tx:
        rows = tx.schemas.history(name)
    if not rows and name not in list_contracts(services.settings.contracts_dir):
        raise NotFound(f"dataset {name!r} does not exist", hint="list datasets with GET /api/datasets")
    return jsonify({"dataset": name, "items": rows, "total": len(rows)})


@bp.get("/audit_events")
def list_audit_events() -> Response:
    limit, offset = page_args(default_limit=100)
    with current_services().store.read() as tx:
        page = tx.audit.page(
            dataset=text_arg("dataset"),
            entity_id=text_arg("entity_id"),
            action=text_arg("action"),
            limit=limit,
            offset=offset,
        )
    return jsonify(page_body(page.items, page.total, limit, offset))

"""``/api/marts``: the catalog of data products, with their freshness, columns and lineage.

Marts are declared in contracts (``meta.eventpulse.marts``, docs/CONTRACTS.md#marts) and created
when the contract is adopted; this is the read side.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import MartPath
from eventpulse.api.resources import Mart, MartList
from eventpulse.api.roles import VIEWER
from eventpulse.contracts.marts import freshness_from_row, freshness_status
from eventpulse.contracts.registry import known_datasets, resolve_contract
from eventpulse.errors import ContractError, NotFound

bp = Operations("catalog", __name__, url_prefix="/api")


@bp.operation("GET", "/marts", access=VIEWER, returns={200: MartList})
def list_marts() -> Response:
    """Every data product: its view, owner, status, freshness, columns and the datasets it reads."""
    items = _catalog()
    return jsonify({"items": items, "total": len(items)})


@bp.operation("GET", "/marts/<name>", access=VIEWER, returns={200: Mart}, errors=(400, 404))
def get_mart(path: MartPath) -> Response:
    """One data product."""
    found = [m for m in _catalog() if m["name"] == path.name]
    if not found:
        raise NotFound(
            f"there is no mart {path.name!r}",
            hint="list the marts with GET /api/marts; declare one under meta.eventpulse.marts in a contract",
        )
    return jsonify(found[0])


def _catalog() -> list[dict[str, Any]]:
    services = current_services()
    # Adopt edited contract files first, so the catalog shows what the files declare now.
    _resolve_every_contract()
    with services.store.read() as tx:
        rows = tx.marts.catalog()
    now = services.clock.now()
    return [_present(row, now) for row in rows]


def _resolve_every_contract() -> None:
    services = current_services()
    for dataset in known_datasets(services):
        try:
            resolve_contract(services, dataset)
        except ContractError:
            continue  # a broken contract is reported by /api/contracts; its marts stay as they were


def _present(row: dict[str, Any], now: Any) -> dict[str, Any]:
    policy = freshness_from_row(row["freshness"])
    last = row["last_load_at"]
    return {
        "name": row["name"],
        "dataset": row["dataset"],
        "view": row["view_name"],
        "description": row["description"],
        "owner": row["owner"],
        "sql": row["sql"],
        "status": row["status"],
        "error": row["error"],
        "contract_version": row["contract_version"],
        "updated_at": row["updated_at"],
        "columns": row["columns"],
        "upstream_datasets": row["upstream_datasets"],
        "reads": row["reads"],
        "rows": row["rows"],
        "freshness": {
            "status": freshness_status(last, now, policy),
            "last_load_at": last,
            "age_seconds": (now - last).total_seconds() if last is not None else None,
            **policy.to_dict(),
        },
    }

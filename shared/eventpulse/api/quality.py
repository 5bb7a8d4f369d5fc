"""Per-device views of quality and drift: files a field device sent carry ``source`` = ``device:<id>``.

Both read the statistics the dataset trends use (``Transaction.stats``), filtered by that source, so a
device filter costs no new scan: ingestions are indexed by (dataset, created_at) and (source, created_at).
"""

from __future__ import annotations

from flask import Response, jsonify

from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import DeviceDriftQuery, QualityTrendQuery
from eventpulse.api.resources import DeviceSchemaPage, ExpectationTrends
from eventpulse.api.roles import VIEWER
from eventpulse.api.stats import expectation_trends
from eventpulse.devices.binding import DEVICE_SOURCE_PREFIX, device_of_source, device_source
from eventpulse.ports import Row
from eventpulse.schema.naming import ensure_dataset_name

bp = Operations("quality", __name__, url_prefix="/api")


@bp.operation("GET", "/quality/trends", access=VIEWER, returns={200: ExpectationTrends}, errors=(400,))
def quality_trends(query: QualityTrendQuery) -> Response:
    """Pass rates over time of a dataset's expectations, for one device when ``device_id`` is given."""
    if query.device_id is not None:
        query = query.model_copy(update={"source": device_source(query.device_id)})
    return expectation_trends(query)


@bp.operation("GET", "/drift/devices", access=VIEWER, returns={200: DeviceSchemaPage}, errors=(400,))
def device_drift(query: DeviceDriftQuery) -> Response:
    """Which devices started sending a new schema, and when: each device's schemas, first/last seen."""
    dataset = ensure_dataset_name(query.dataset)
    source = device_source(query.device_id) if query.device_id is not None else None
    with current_services().store.read() as tx:
        rows, total = tx.stats.device_schemas(
            dataset, source=source, prefix=DEVICE_SOURCE_PREFIX, limit=query.limit, offset=query.offset
        )
    items = [_present(row) for row in rows]
    return jsonify(
        {"dataset": dataset, "items": items, "total": total, "limit": query.limit, "offset": query.offset}
    )


def _present(row: Row) -> dict[str, object]:
    return {
        "device_id": device_of_source(str(row["source"])) or "",
        "schema_fingerprint": row["schema_fingerprint"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "ingestions": int(row["ingestions"]),
        "new_schema": int(row["nth"]) > 1,
    }

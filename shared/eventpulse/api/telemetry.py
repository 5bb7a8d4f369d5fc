"""``GET /api/devices/<device_id>/telemetry``: a device's rows of the curated telemetry, newest first.

The rows are read from the curated table of ``edge_telemetry`` (what passed the contract and was
loaded, with its lineage columns), not from the registry: telemetry outlives a deleted device.
"""

from __future__ import annotations

from flask import Response, jsonify
from pydantic import BaseModel, Field

from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import Page, page_body
from eventpulse.api.resources import Row
from eventpulse.api.roles import VIEWER
from eventpulse.curate.ddl import curated_table_name
from eventpulse.devices.tokens import DEVICE_ID
from eventpulse.errors import BadRequest

bp = Operations("telemetry", __name__, url_prefix="/api")

TELEMETRY_DATASET = "edge_telemetry"
NEWEST_FIRST = ("ts", "event_id")
MAX_TELEMETRY_PAGE = 1000


class TelemetryPath(BaseModel):
    device_id: str = Field(max_length=63, description="a device id", json_schema_extra={"example": "pi-001"})


class TelemetryQuery(Page):
    limit: int = Field(
        100, ge=1, le=MAX_TELEMETRY_PAGE, description=f"rows per page, 1 to {MAX_TELEMETRY_PAGE}"
    )
    sensor: str | None = Field(None, max_length=63, description="only readings of this sensor")


class TelemetryPage(BaseModel):
    items: list[Row] = Field(description="curated rows: the contract's columns and the lineage columns")
    total: int
    limit: int
    offset: int


@bp.operation(
    "GET",
    "/devices/<device_id>/telemetry",
    access=VIEWER,
    returns={200: TelemetryPage},
    errors=(400,),
)
def device_telemetry(path: TelemetryPath, query: TelemetryQuery) -> Response:
    """The device's loaded telemetry rows, newest `ts` first, paged (empty before the first load)."""
    if not DEVICE_ID.match(path.device_id):
        raise BadRequest(
            f"{path.device_id[:70]!r} is not a device id",
            hint="a device id is a letter or digit, then up to 62 letters, digits, '.', '_' or '-'",
        )
    where: dict[str, object] = {"device_id": path.device_id}
    if query.sensor:
        where["sensor"] = query.sensor
    with current_services().store.read() as tx:
        page = tx.curated.preview(
            curated_table_name(TELEMETRY_DATASET),
            order_by=NEWEST_FIRST,
            limit=query.limit,
            offset=query.offset,
            where=where,
            descending=True,
        )
    return jsonify(page_body(page.items, page.total, query.limit, query.offset))

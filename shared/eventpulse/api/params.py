"""What requests carry, declared once: path, query and JSON body models (validated, and in the document).

A model's field descriptions are the hints of its 400s (``api/operations.py``), so say the valid range
there. Domain rules with their own messages (dataset names, file names, statuses) are checked by the
core; the models only type them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from eventpulse.errors import BadRequest
from eventpulse.states import Status

MAX_PAGE = 500
MAX_FILTER_CHARS = 200
MAX_OFFSET = 10**9
MAX_AGE_DAYS = 36_500
"""Ages beyond a century are typos, and beyond the database's date range."""
MAX_AGE_SECONDS = MAX_AGE_DAYS * 86_400
STATUS_VALUES = [s.value for s in Status]
_STATUS_ITEMS: JsonDict = {"items": {"type": "string", "enum": [*STATUS_VALUES]}}


class Body(BaseModel):
    """A JSON object body: types are strict (``"5"`` is not a number, ``"yes"`` not a boolean)."""

    model_config = ConfigDict(strict=True)


# --- path -----------------------------------------------------------------------------------------


class IngestionPath(BaseModel):
    ingestion_id: uuid.UUID = Field(
        description="an ingestion id (a UUID such as 3f2b8c1e-5d4a-4f6e-9b7c-2a1d0e9f8c7b)"
    )


class DatasetPath(BaseModel):
    dataset: str = Field(
        max_length=200,
        description="a dataset name: a letter a-z, then up to 62 letters a-z, digits or underscores",
        json_schema_extra={"example": "edge_telemetry"},
    )


class MartPath(BaseModel):
    name: str = Field(
        max_length=40,
        description="a mart name: a letter a-z, then up to 39 of a-z, 0-9 or _",
    )


class ContractVersionPath(DatasetPath):
    version: str = Field(
        min_length=64, max_length=64, description="a contract version: the 64 hex digits of its content hash"
    )


# --- query ----------------------------------------------------------------------------------------


def _limit(default: int) -> int:
    return Field(default, ge=1, le=MAX_PAGE, description=f"page size, an integer from 1 to {MAX_PAGE}")


class Page(BaseModel):
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="items to skip, an integer from 0")


def _blank_is_none(value: object) -> object:
    return value or None


Filter = Annotated[str | None, BeforeValidator(_blank_is_none)]
"""An optional exact-match filter; ``?dataset=`` (empty) means no filter."""


def _text_filter(what: str) -> str | None:
    return Field(
        None, max_length=MAX_FILTER_CHARS, description=f"{what} (exact, at most {MAX_FILTER_CHARS} chars)"
    )


class IngestionQuery(Page):
    limit: int = _limit(50)
    dataset: Filter = _text_filter("only this dataset, case-insensitive")
    source: Filter = _text_filter("only ingestions of this source (api, demo, watcher, edge, dashboard, ...)")
    status: list[str] = Field(
        default_factory=list,
        description=f"only these statuses (repeatable or comma-separated): {', '.join(STATUS_VALUES)}",
        json_schema_extra=_STATUS_ITEMS,
    )


class AuditQuery(Page):
    limit: int = _limit(100)
    dataset: Filter = _text_filter("only events of this dataset")
    entity_id: Filter = _text_filter("only events of this entity (e.g. an ingestion id)")
    action: Filter = _text_filter("only this action (e.g. ingestion.registered)")


class UploadQuery(BaseModel):
    dataset: str = Field(max_length=200, description="the dataset; contracts/<dataset>.json must exist")
    filename: str = Field(
        max_length=1000, description="the original file name; its extension picks the reader"
    )
    source: str | None = Field(None, max_length=1000, description="recorded on the ingestion (default api)")
    sheet: str | None = Field(None, max_length=200, description="the worksheet to read from an XLSX file")
    encoding: str | None = Field(None, max_length=100, description="the text encoding of a CSV/JSON file")
    fail_fast: bool = Field(
        False,
        description="CSV/NDJSON: check the header against the contract and drift policy as it "
        "arrives; a rejected header is answered 422 at once and nothing is landed",
    )


MAX_SAMPLE_PAGE = 500


class SampleQuery(Page):
    limit: int = Field(50, ge=1, le=MAX_SAMPLE_PAGE, description=f"rows per page, 1 to {MAX_SAMPLE_PAGE}")
    ingestion_id: uuid.UUID | None = Field(
        None, description="only the rows this ingestion loaded (lineage column _ingestion_id)"
    )


class SeedQuery(BaseModel):
    limit: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="total rows, an integer from 1 to 100000",
        json_schema_extra={"example": 20},
    )
    per_ingestion_max: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="rows per file, 1 to 100000 (default min(limit, 500))",
        json_schema_extra={"example": 10},
    )


class ContractDiffQuery(BaseModel):
    from_: str | None = Field(
        None,
        alias="from",
        min_length=64,
        max_length=64,
        description="the older version (64 hex digits); default: the version adopted before `to`",
    )
    to: str | None = Field(
        None, min_length=64, max_length=64, description="the newer version (64 hex digits); default: current"
    )


QuarantineStatusName = Literal["held", "replayed", "discarded"]
QuarantineKindName = Literal["expectation", "discard_row", "discard_value"]
MAX_SELECTED_IDS = 10_000


class QuarantineFilterQuery(BaseModel):
    dataset: Filter = _text_filter("only rows of this dataset")
    ingestion_id: uuid.UUID | None = Field(None, description="only rows of this ingestion (a UUID)")
    expectation: Filter = _text_filter("only rows that failed this expectation type")
    device_id: Filter = _text_filter("only rows sent by this device")
    status: QuarantineStatusName | None = Field(None, description="held, replayed or discarded")
    kind: QuarantineKindName | None = Field(None, description="expectation, discard_row or discard_value")


class QuarantineQuery(QuarantineFilterQuery):
    limit: int = _limit(100)
    cursor: int | None = Field(
        None, ge=0, le=2**62, description="next_cursor of the previous page (rows with a larger id)"
    )


class QuarantineSelection(Body):
    """Which held rows: ``ids``, or filters (at least one of them)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        None, max_length=MAX_SELECTED_IDS, description=f"quarantined row ids (at most {MAX_SELECTED_IDS})"
    )
    dataset: str | None = Field(None, max_length=MAX_FILTER_CHARS, description="only rows of this dataset")
    ingestion_id: str | None = Field(
        None, max_length=MAX_FILTER_CHARS, description="only rows of this ingestion (a UUID)"
    )
    expectation: str | None = Field(
        None, max_length=MAX_FILTER_CHARS, description="only rows that failed this expectation type"
    )
    device_id: str | None = Field(None, max_length=MAX_FILTER_CHARS, description="only rows of this device")


class DiscardBody(QuarantineSelection):
    reason: str = Field(
        min_length=1, max_length=2000, description="why the rows are dropped (required; audited)"
    )


# --- JSON bodies ----------------------------------------------------------------------------------


class FromPathBody(Body):
    path: str = Field(max_length=4096, description="a path relative to the incoming folder")
    dataset: str | None = Field(None, max_length=200, description="the dataset (default: the watcher's rule)")
    source: str | None = Field(
        None, max_length=1000, description="recorded on the ingestion (default from_path)"
    )


class FromGcsBody(Body):
    name: str = Field(max_length=1024, description="the object name in the bucket")
    bucket: str | None = Field(None, max_length=222, description="the bucket (default EVENTPULSE_GCS_BUCKET)")


class RenameBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)
    from_: str = Field(
        alias="from", min_length=1, max_length=200, description="the column as the file names it"
    )
    to: str = Field(min_length=1, max_length=63, description="the known column it is a rename of")
    note: str | None = Field(None, max_length=2000, description="why (kept with the contract version)")


class ReviewBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    note: str | None = Field(None, description="why (at most 2000 characters; recorded in the audit log)")


CONTRACT_MAX_BYTES = 1024 * 1024
"""A contract body may be large (long value sets), but not unbounded."""


class ContractCheckBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    suite: dict[str, Any] = Field(
        description="the Great Expectations suite JSON, with meta.eventpulse (see docs/CONTRACTS.md)"
    )


class ContractSaveBody(ContractCheckBody):
    base_version: str | None = Field(
        None,
        max_length=64,
        description="the version you edited (GET /api/contracts/<dataset>); omit only for a first contract",
    )
    note: str | None = Field(None, max_length=2000, description="why (recorded with the version)")


class DryRunBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    suite: dict[str, Any] | None = Field(
        None, description="the candidate suite (default: the current contract, to see what it does now)"
    )
    last: int = Field(5, ge=1, le=50, description="the dataset's last N distinct raw files, 1 to 50")
    ingestion_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="these ingestions' files instead (at most 50)"
    )
    max_seconds: float = Field(
        60, gt=0, le=300, description="time budget in seconds (at most 300); later files are skipped"
    )


REQUESTED_BY = Field(None, description="who asked (free text, at most 100 characters kept in the audit log)")


class ReclaimBody(Body):
    older_than_seconds: float | None = Field(
        None, ge=0, le=MAX_AGE_SECONDS, description=f"a number of seconds from 0 to {MAX_AGE_SECONDS}"
    )
    requested_by: str | None = REQUESTED_BY


class PruneBody(Body):
    older_than_days: int = Field(
        ge=1, le=MAX_AGE_DAYS, description=f"a whole number of days, from 1 to {MAX_AGE_DAYS}"
    )
    apply: bool = Field(False, description="true deletes; false (default) is a dry run")
    include_raw: bool = Field(False, description="true also deletes raw objects no ingestion references")
    requested_by: str | None = REQUESTED_BY


class ReplayRangeBody(Body):
    dataset: str = Field(
        min_length=1, max_length=200, description="the dataset to replay", examples=["edge_telemetry"]
    )
    since: str | None = Field(None, description="ISO 8601 instant or date, inclusive (e.g. 2026-11-01)")
    until: str | None = Field(None, description="ISO 8601 instant or date, exclusive")
    dry_run: bool = Field(False, description="true lists what would be replayed")
    requested_by: str | None = REQUESTED_BY


# --- helpers --------------------------------------------------------------------------------------


def parse_statuses(raw: Sequence[str]) -> list[str]:
    """``status`` may repeat and may be comma-separated; values are case-insensitive."""
    values = [part.strip().upper() for item in raw for part in item.split(",")]
    values = [v for v in values if v]
    unknown = [v for v in values if v not in STATUS_VALUES]
    if unknown:
        raise BadRequest(
            f"unknown status {unknown[0][:80]!r}",
            hint=f"valid statuses: {', '.join(STATUS_VALUES)}",
            details={"parameter": "status", "valid": STATUS_VALUES},
        )
    return sorted(set(values))


def page_body(items: Sequence[object], total: int, limit: int, offset: int) -> dict[str, object]:
    return {"items": list(items), "total": total, "limit": limit, "offset": offset}


# --- trends (api/stats.py) ------------------------------------------------------------------------

MAX_BUCKETS = 1000
TREND_GROUPS = ["status", "dataset", "source"]
"""``group_by`` values; the edge issue's ``device`` is one more (and one entry in adapters' GROUP_COLUMNS)."""


class TrendQuery(BaseModel):
    since: datetime | None = Field(
        None,
        description="window start, inclusive: ISO 8601 instant or date, UTC unless it has an offset "
        "(default: the start of the 30th bucket back from until)",
    )
    until: datetime | None = Field(None, description="window end, exclusive, like since (default: now)")
    bucket: Literal["hour", "day", "week"] = Field(
        "day",
        description=f"bucket length: hour, day or week (UTC, weeks start Monday); at most {MAX_BUCKETS}",
    )
    dataset: Filter = _text_filter("only this dataset, case-insensitive")
    source: Filter = _text_filter("only ingestions of this source (api, watcher, ...)")
    group_by: Annotated[Literal["status", "dataset", "source"] | None, BeforeValidator(_blank_is_none)] = (
        Field(None, description=f"split each bucket by one of: {', '.join(TREND_GROUPS)}")
    )


class ExpectationTrendQuery(TrendQuery):
    dataset: str = Field(
        max_length=200, description="the dataset whose contract's expectations to chart (required)"
    )


class QualityTrendQuery(ExpectationTrendQuery):
    device_id: Filter = Field(
        None,
        max_length=MAX_FILTER_CHARS,
        description="only files sent by this device (source device:<id>); overrides source",
    )


class DeviceDriftQuery(Page):
    limit: int = _limit(100)
    dataset: str = Field(max_length=200, description="the dataset whose devices' schemas to list (required)")
    device_id: Filter = _text_filter("only this device")


class HeartbeatBody(Body):
    """``POST /api/edge/heartbeat``: what the device says about itself; every field optional."""

    model_config = ConfigDict(strict=True, extra="forbid")
    battery_v: float | None = Field(None, ge=0, le=100)
    rssi_dbm: int | None = Field(None, ge=-200, le=50)
    firmware_version: str | None = Field(None, max_length=64)
    agent_version: str | None = Field(None, max_length=64)
    status: Literal["ok", "degraded", "error"] | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    spool_depth: int | None = Field(None, ge=0)


class EnrollBody(Body):
    """``POST /api/edge/enroll``: the device's chosen id and its hardware fingerprint."""

    model_config = ConfigDict(strict=True, extra="forbid")
    device_id: str = Field(
        description="1-63 characters: letters, digits, '_', '.', '-' (starts alphanumeric)"
    )
    enroll_fingerprint: str = Field(
        min_length=8, max_length=512, description="stable per device; stored hashed"
    )
    label: str = Field("", max_length=200)


# --- edge device routes: upload and the command channel (issue 8, branch edgeup) -------------------


class EdgeUploadQuery(BaseModel):
    """``POST /api/edge/ingest/upload``: which dataset the device's batch is for, and its file name."""

    dataset: str = Field(
        max_length=200, description="a dataset this device may send (its registry entry, else the fleet's)"
    )
    filename: str = Field(
        max_length=1000, description="the batch's file name; .csv, .ndjson or .jsonl picks the reader"
    )


class CommandPath(BaseModel):
    command_id: str = Field(
        min_length=1, max_length=100, description="a command id from GET /api/edge/commands"
    )


class EdgeCommandsQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100, description="most commands handed out at once, 1 to 100")


ACK_OUTPUT_MAX = 64 * 1024
"""The most characters of ``output``: the agent's upload_logs answer is capped at 64 KiB of text."""
ACK_ERROR_MAX = 4096
ACK_BODY_MAX_BYTES = 512 * 1024
"""The ack's JSON body limit: room for ``output`` at its maximum even when escaping inflates it."""


class CommandAckBody(Body):
    """``POST /api/edge/commands/<id>/ack``: how the command ended on the device (nothing secret)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    ok: bool = Field(description="true: the command ran; false: it failed (say why in error)")
    output: str | None = Field(
        None, max_length=ACK_OUTPUT_MAX, description="what the command printed, at most 65536 characters"
    )
    error: str | None = Field(
        None, max_length=ACK_ERROR_MAX, description="why the command failed, at most 4096 characters"
    )


# --- device admin (api/devices.py, issue 8) -------------------------------------------------------

DEVICE_ID_HINT = "1-63 characters: letters, digits, '_', '.', '-' (starts alphanumeric)"
MAX_DEVICE_DATASETS = 50
MAX_CADENCE_SECONDS = 30 * 86_400
MAX_THRESHOLDS = 200


class DevicePath(BaseModel):
    device_id: str = Field(max_length=63, description=DEVICE_ID_HINT, json_schema_extra={"example": "pi-001"})


class AdminCommandPath(BaseModel):
    command_id: uuid.UUID = Field(description="a command id (a UUID)")


class AlertPath(BaseModel):
    alert_id: str = Field(max_length=100, description="an alert id")


class DeviceCursorPage(BaseModel):
    limit: int = _limit(50)
    cursor: Filter = Field(
        None, max_length=1000, description="next_cursor of the previous page (omit for the first page)"
    )


class DeviceListQuery(DeviceCursorPage):
    status: Annotated[Literal["active", "revoked"] | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="active or revoked"
    )
    group: Filter = _text_filter("only devices of this group")
    search: Filter = _text_filter("case-insensitive prefix of the device id or the label")
    online: bool | None = Field(
        None, description="true: heard within EVENTPULSE_DEVICE_OFFLINE_AFTER_SECONDS; false: not"
    )


class CommandListQuery(DeviceCursorPage):
    status: Annotated[
        Literal["queued", "delivered", "succeeded", "failed", "expired", "cancelled"] | None,
        BeforeValidator(_blank_is_none),
    ] = Field(None, description="queued, delivered, succeeded, failed, expired or cancelled")
    device_id: Filter = _text_filter("only commands of this device")


class DeviceCommandQuery(DeviceCursorPage):
    status: Annotated[
        Literal["queued", "delivered", "succeeded", "failed", "expired", "cancelled"] | None,
        BeforeValidator(_blank_is_none),
    ] = Field(None, description="queued, delivered, succeeded, failed, expired or cancelled")


class AlertListQuery(DeviceCursorPage):
    device_id: Filter = _text_filter("only alerts of this device")
    kind: Annotated[Literal["threshold", "silent"] | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="threshold or silent"
    )
    level: Annotated[Literal["warning", "critical"] | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="warning or critical"
    )
    open: bool = Field(False, description="true: only alerts not yet resolved")
    unacknowledged: bool = Field(False, description="true: only alerts nobody acknowledged yet")


def _datasets_field() -> Any:
    return Field(
        None,
        max_length=MAX_DEVICE_DATASETS,
        description=f"datasets the device may send (at most {MAX_DEVICE_DATASETS}); [] means the fleet's",
    )


def _cadence_field() -> Any:
    return Field(
        None,
        gt=0,
        le=MAX_CADENCE_SECONDS,
        description=f"expected seconds between contacts, above 0 and at most {MAX_CADENCE_SECONDS}",
    )


class ProvisionBody(Body):
    """``POST /api/devices``: an admin registers a device before it is installed."""

    model_config = ConfigDict(strict=True, extra="forbid")
    device_id: str = Field(description=DEVICE_ID_HINT)
    label: str = Field("", max_length=200)
    group: str = Field("", max_length=63, description="a fleet group name, at most 63 characters")
    datasets: list[Annotated[str, Field(max_length=200)]] | None = _datasets_field()
    cadence_seconds: float | None = _cadence_field()


class DevicePatchBody(Body):
    """``PATCH /api/devices/<id>``: only the fields given change."""

    model_config = ConfigDict(strict=True, extra="forbid")
    label: str | None = Field(None, max_length=200)
    group: str | None = Field(None, max_length=63, description="a fleet group name ('' for none)")
    datasets: list[Annotated[str, Field(max_length=200)]] | None = _datasets_field()
    cadence_seconds: float | None = _cadence_field()


class RevokeBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="why (required; audited)")


class UnrevokeBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    reason: str | None = Field(None, max_length=2000, description="why (audited)")


class CommandBody(Body):
    """``POST /api/devices/<id>/commands``: the parameters are checked by ``devices/commands.py``."""

    model_config = ConfigDict(strict=True, extra="forbid")
    kind: str = Field(
        max_length=64,
        description="restart_agent, set_sampling_interval, rotate_token, upload_logs or update_agent",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters")
    ttl_seconds: float | None = Field(
        None, description="seconds until it expires (default EVENTPULSE_COMMAND_TTL_SECONDS)"
    )


class GroupCommandBody(CommandBody):
    group: str = Field(min_length=1, max_length=63, description="every active device of this group")


class ThresholdItem(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    sensor: str = Field(min_length=1, max_length=63, description="the sensor name")
    direction: Literal["above", "below"] = Field("above", description="above or below")
    warning: float | None = Field(None, description="the warning limit (a number)")
    critical: float | None = Field(None, description="the critical limit (a number)")


class ThresholdsBody(Body):
    """``PUT .../thresholds``: the whole set replaces the previous one."""

    model_config = ConfigDict(strict=True, extra="forbid")
    thresholds: list[ThresholdItem] = Field(max_length=MAX_THRESHOLDS, description="one per sensor")

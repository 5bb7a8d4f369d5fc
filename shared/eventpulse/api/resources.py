"""What responses carry, declared once: the resources, pages, job reports and the one error envelope.

These models describe the JSON the routes build (``present.py``); the schemathesis test checks every
response against them. Rows allow extra keys, so a column added to the store is not a breaking change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eventpulse.states import Status


class Row(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- errors ---------------------------------------------------------------------------------------


class ErrorDetails(Row):
    request_id: str = Field(description="the id of this request in the server log (also X-Request-Id)")


class ErrorBody(BaseModel):
    status: int = Field(description="the HTTP status")
    code: str = Field(description="a stable machine-readable code, e.g. not_found, forbidden")
    message: str = Field(description="what went wrong, naming the entity")
    hint: str = Field(description="what to do next (may be empty)")
    details: ErrorDetails


class ErrorEnvelope(BaseModel):
    """Every error of every endpoint."""

    error: ErrorBody


# --- ingestions -----------------------------------------------------------------------------------


class Ingestion(Row):
    id: uuid.UUID
    dataset: str
    filename: str
    source: str
    raw_key: str
    sha256: str
    size_bytes: int
    status: Status
    attempts: int
    max_attempts: int
    replay_of: uuid.UUID | None
    options: dict[str, Any] = Field(
        description="how the file is read: sheet (a name or 0-based index), encoding"
    )
    sheet: str = Field(
        description="the workbook sheet, part of the ingestion's identity: '' (not a workbook, or its first "
        "sheet), a sheet name, or [n] for a 0-based index n > 0"
    )
    claimed_by: str | None
    heartbeat_at: datetime | None
    enqueued_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    created_by: str = Field(description="who registered it: token:<name>, task, cli, watcher, ...")
    error: dict[str, Any] | None = Field(description="code, message, hint of a failure")
    contract_version: str | None
    schema_fingerprint: str | None
    rows_total: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    rows_processed: int | None
    rows_quarantined: int | None = Field(
        None,
        description="rows held back in the quarantine (PARTIALLY_LOADED); GET /api/quarantine lists them",
    )


class IngestionDetail(Ingestion):
    quality: dict[str, Any] | None = Field(
        description="the quality report: passed, rows_evaluated, critical_failures, warnings, results "
        "(one per expectation: expectation_type, kwargs, severity, success, observed_value, "
        "unexpected_count, unexpected_percent, failing_rows, sample_values, exception, and engine: "
        "compiled, gx or eventpulse; reports written before the compiled engine have no engine: gx)"
    )
    drift: dict[str, Any] | None
    lineage: dict[str, Any] | None
    artifacts: dict[str, Any]


class NextStep(BaseModel):
    description: str
    route: str = Field(description="the HTTP call, e.g. POST /api/ingestions/<id>/replay")
    command: str = Field(description="the same with the CLI, e.g. eventpulse replay <id>")


class Duplicate(BaseModel):
    """Why nothing new was queued, and what to do about the existing ingestion."""

    message: str
    next_steps: list[NextStep]


class HeaderChange(BaseModel):
    kind: str = Field(description="column_added or column_removed: what a header can prove")
    column: str
    policy: str = Field(description="the drift policy key that decides it, e.g. removed_columns")
    mode: str = Field(description="what the policy does with it, e.g. fail, evolve")
    breaking: bool
    message: str


class HeaderCheckResult(BaseModel):
    """The fail-fast verdict on a file's header; accept means its rows are still to be checked."""

    outcome: Literal["accept", "reject"]
    columns: list[str] = Field(description="the header's columns, normalized as the readers name them")
    changes: list[HeaderChange]


class Registered(Ingestion):
    deduplicated: bool = Field(description="true: these bytes were already registered; nothing was queued")
    duplicate: Duplicate | None = Field(None, description="present when deduplicated")
    header_check: HeaderCheckResult | None = Field(None, description="present with ?fail_fast=true")


class RegisteredFromPath(Registered):
    archived_to: str = Field(description="where the file was moved, relative to the archive folder")


class IngestionPage(BaseModel):
    items: list[Ingestion]
    total: int
    limit: int
    offset: int


class SeedResult(BaseModel):
    dataset: str
    rows: int
    items: list[Ingestion]
    total: int


# --- datasets, schemas, audit ---------------------------------------------------------------------


class Dataset(Row):
    name: str
    ingestions: int | None
    last_ingestion_at: datetime | None
    has_contract: bool
    curated_table: str | None = None
    curated_schema: dict[str, Any] | None = None
    primary_key: list[str] | None = None
    contract_version: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DatasetList(BaseModel):
    items: list[Dataset]
    total: int


class SchemaVersion(Row):
    dataset: str
    version: int
    fingerprint: str
    schema_: dict[str, Any] = Field(alias="schema")
    contract_version: str | None
    ingestion_id: uuid.UUID | None
    reason: str
    accepted_by: str
    accepted_at: datetime


class SchemaHistory(BaseModel):
    dataset: str
    items: list[SchemaVersion]
    total: int


class AuditEvent(Row):
    id: int
    at: datetime
    actor: str = Field(description="token:<name>, task, local-dev, or a process (watcher, cli, ...)")
    action: str
    entity_type: str
    entity_id: str
    dataset: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEvent]
    total: int
    limit: int
    offset: int


# --- contracts ------------------------------------------------------------------------------------


class ContractChange(Row):
    kind: str = Field(
        description="column_added|column_removed|column_changed|expectation_added|expectation_removed|"
        "expectation_changed|primary_key_changed|drift_policy_changed|sheet_changed|setting_changed"
    )
    path: str = Field(
        description="where in the suite, e.g. meta.eventpulse.columns.amount or expectations[2]"
    )


class ContractAdoption(Row):
    version: str
    source: str = Field(description="file: read from contracts/<dataset>.json; api: saved through the API")
    adopted_by: str
    adopted_at: datetime
    note: str | None = None


class ContractSummary(Row):
    dataset: str
    version: str | None
    source: str | None = None
    adopted_by: str | None = None
    adopted_at: datetime | None = None
    error: dict[str, Any] | None = Field(
        None, description="set when the contract does not validate: {code, message, hint, details: {key}}"
    )


class ContractList(BaseModel):
    items: list[ContractSummary]
    total: int


class ContractDetail(ContractSummary):
    suite: dict[str, Any]
    history: list[ContractAdoption] = Field(description="adoptions, newest first (at most 100)")


class ContractVersionBody(Row):
    dataset: str
    version: str
    suite: dict[str, Any]
    first_seen_at: datetime


class ContractDiff(Row):
    dataset: str
    from_: str | None = Field(alias="from")
    to: str
    changes: list[ContractChange]


class ContractValidation(Row):
    dataset: str
    valid: bool
    version: str | None = Field(description="the version this suite would have (its content hash)")
    current_version: str | None
    changes: list[ContractChange] = Field(description="the changes from the current version")
    error: dict[str, Any] | None = Field(
        None,
        description="why it is invalid: {code, message, hint, details: {key}}, key naming the offending part",
    )


class ContractSaved(Row):
    dataset: str
    version: str
    previous_version: str | None
    changed: bool = Field(description="false when the suite was already the current version")
    changes: list[ContractChange] = Field(description="the changes from the previous version")


class DryRunFile(Row):
    type: str = Field(description="file")
    ingestion_id: str
    filename: str
    actual: dict[str, Any] = Field(description="what happened: status, rows_loaded, contract_version")
    would: dict[str, Any] | None = Field(
        description="status, rows_total, rows_loaded, rows_discarded, drift, expectations (failures, rows)"
    )
    skipped: str | None = Field(description="why the file was not evaluated (the time budget)")
    differences: list[dict[str, Any]] = Field(
        description="status, rows_loaded and expectation outcomes that change"
    )
    progress: dict[str, int] = Field(description="done, total")


class RenameMapped(BaseModel):
    contract_version: str = Field(description="the saved contract version, with the rename")
    previous_version: str | None
    candidate: dict[str, Any] | None = Field(
        description="the rename candidate the drift decision reported for this pair, with its evidence"
    )
    replay: Ingestion = Field(description="the replay of the file under the new contract")


class DryRunSummary(Row):
    type: str = Field(description="summary")
    files: int
    evaluated: int
    skipped: int
    would_status: dict[str, int]
    rows_would_load: int
    rows_loaded_actually: int
    files_changing_status: int
    wrote_nothing: bool


class DryRunReport(BaseModel):
    items: list[DryRunFile]
    summary: DryRunSummary


# --- data products --------------------------------------------------------------------------------


class MartColumn(BaseModel):
    name: str
    type: str = Field(description="the PostgreSQL type of the view's column")


class MartFreshness(BaseModel):
    status: str = Field(
        description="fresh | warn | error (older than warn_after / error_after) | unknown (never loaded)"
    )
    last_load_at: datetime | None = Field(description="the last successful load of a dataset it reads")
    age_seconds: float | None
    warn_after_seconds: float | None
    error_after_seconds: float | None


class Mart(Row):
    name: str
    dataset: str = Field(description="the dataset whose contract declares it")
    view: str = Field(description="the view to query: mart_<name>")
    description: str
    owner: str
    sql: str
    status: str = Field(description="ok | pending (a table it reads does not exist yet) | error")
    error: str | None = Field(description="Postgres's message when it could not be created")
    contract_version: str
    updated_at: datetime
    columns: list[MartColumn]
    upstream_datasets: list[str] = Field(description="the datasets whose curated tables it reads")
    reads: list[str] = Field(description="every relation it reads (curated tables, other marts)")
    rows: int | None = Field(description="its row count (null when counting took over 2 s)")
    freshness: MartFreshness


class MartList(BaseModel):
    items: list[Mart]
    total: int


# --- health and jobs ------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Checks(BaseModel):
    database: Literal["ok"]


class QueueDepth(BaseModel):
    waiting: int = Field(
        description="ingestions waiting for a worker: RECEIVED, or FAILED_EXCEPTION with attempts left"
    )
    processing: int = Field(description="ingestions a worker holds (PROCESSING)")
    max_waiting: int = Field(description="EVENTPULSE_INTAKE_MAX_WAITING (0: no limit)")
    max_waiting_per_source: int = Field(description="EVENTPULSE_INTAKE_MAX_WAITING_PER_SOURCE (0: no limit)")
    shedding: bool = Field(description="new files from every source are refused with 429")
    shedding_sources: list[str] = Field(description="sources whose new files are refused with 429")


class Ready(BaseModel):
    status: Literal["ready"]
    checks: Checks
    queue: QueueDepth = Field(description="the queue backlog, counted at most once per second")


class QueueStats(QueueDepth):
    by_source: dict[str, int] = Field(description="waiting ingestions per source (sources with any)")


class ReclaimReport(BaseModel):
    stale: list[uuid.UUID]
    unqueued: list[uuid.UUID]
    retried: list[uuid.UUID]


class PruneCounts(BaseModel):
    ingestions: int
    audit_events: int
    raw_objects: int


class PruneReport(BaseModel):
    dry_run: bool
    older_than_days: int
    cutoff: datetime
    include_raw: bool
    ingestions: int
    artifacts: int
    audit_events: int
    raw_objects: int
    ingestion_ids: list[uuid.UUID]
    deleted: PruneCounts
    raw_kept: list[str]


class Replayed(BaseModel):
    original: uuid.UUID
    ingestion: uuid.UUID


class Skipped(BaseModel):
    original: uuid.UUID
    reason: str


class ReplayFailed(BaseModel):
    original: uuid.UUID
    error: str


class ReplayRangeReport(Row):
    dataset: str
    since: datetime | None
    until: datetime | None
    dry_run: bool
    selected: int
    replayed: list[Replayed]
    skipped: list[Skipped]
    failed: list[ReplayFailed]


class QuarantinedRow(BaseModel):
    """One row held back by a quarantine expectation, or traced by a discard drift policy."""

    id: int
    ingestion_id: uuid.UUID
    dataset: str
    source_row: int = Field(description="1-based data row number in the file")
    sheet: str
    kind: str = Field(description="expectation, discard_row or discard_value")
    failures: list[dict[str, Any]] = Field(description="[{expectation_type, kwargs, severity}]")
    values: dict[str, Any] = Field(description="the row's values as read")
    contract_version: str
    raw_uri: str
    device_id: str | None
    status: str = Field(description="held, replayed or discarded")
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_reason: str | None
    replay_ingestion_id: uuid.UUID | None
    created_at: datetime


class QuarantinePage(BaseModel):
    items: list[QuarantinedRow]
    total: int = Field(description="rows matching the filters")
    limit: int
    next_cursor: int | None = Field(description="pass as cursor for the next page; null on the last")


class QuarantineDiscarded(BaseModel):
    discarded: int = Field(description="held rows now discarded")
    ids: list[int]


class QuarantineReplayed(BaseModel):
    rows: int = Field(description="held rows sent to be revalidated")
    remaining: int = Field(description="held rows that match but were left for a next call")
    ingestions: list[Ingestion] = Field(description="one replay ingestion per original ingestion")


# --- trends (api/stats.py) ------------------------------------------------------------------------


class TrendWindowOut(BaseModel):
    since: datetime
    until: datetime
    bucket: Literal["hour", "day", "week"]
    time_zone: Literal["UTC"] = Field(description="buckets start at UTC hour, day or Monday boundaries")
    dataset: str | None
    source: str | None
    group_by: str | None


class IngestionCounts(BaseModel):
    ingestions: int = Field(description="ingestions created in the bucket")
    statuses: dict[str, int] = Field(description="their current status -> count (every status, 0 included)")
    finished: int = Field(description="those in a final status (STATES.md)")
    loaded: int
    success_rate: float | None = Field(description="loaded / finished; null when none finished")
    rows_loaded: int = Field(description="rows loaded into the curated table (throughput)")
    bytes: int = Field(description="raw bytes received (throughput)")


class IngestionGroup(IngestionCounts):
    key: str


class IngestionBucket(IngestionCounts):
    start: datetime
    groups: list[IngestionGroup] = Field(description="per group_by value seen in the bucket, by key")


class IngestionTrends(BaseModel):
    window: TrendWindowOut
    buckets: list[IngestionBucket] = Field(description="every bucket of the window, oldest first")
    totals: IngestionCounts
    groups: list[str] = Field(description="every group key seen in the window")


class ExpectationPoint(BaseModel):
    start: datetime
    evaluated: int = Field(description="ingestions whose quality report has this expectation")
    passed: int
    pass_rate: float | None = Field(description="passed / evaluated; null when none evaluated")
    unexpected_rows: int = Field(description="failing rows summed over those reports")


class ExpectationSeries(BaseModel):
    expectation_type: str
    column: str = Field(description="its column ('' for a table check; a pair or list joined by commas)")
    severity: str
    group: str | None = Field(description="the group_by value, null without group_by")
    evaluated: int
    passed: int
    pass_rate: float | None
    buckets: list[ExpectationPoint] = Field(description="every bucket of the window, oldest first")


class ExpectationTrends(BaseModel):
    window: TrendWindowOut
    series: list[ExpectationSeries]


class DriftCounts(BaseModel):
    events: int = Field(description="ingestions whose drift decision found at least one schema change")
    outcomes: dict[str, int] = Field(description="events per decision outcome: accept, reject, quarantine")
    kinds: dict[str, int] = Field(description="schema changes per kind (an event may have several)")


class DriftGroup(DriftCounts):
    key: str


class DriftBucket(DriftCounts):
    start: datetime
    groups: list[DriftGroup]


class QuarantineCounts(BaseModel):
    rows: int = Field(description="quarantined rows of the bucket's ingestions")
    ingestions: int = Field(description="ingestions with at least one such row")
    kinds: dict[str, int] = Field(description="rows per kind: expectation, discard_row, discard_value")
    statuses: dict[str, int] = Field(description="rows per status now: held, replayed, discarded")


class QuarantineGroup(QuarantineCounts):
    key: str


class QuarantineBucket(QuarantineCounts):
    start: datetime
    groups: list[QuarantineGroup]


class QuarantineTrends(BaseModel):
    window: TrendWindowOut
    buckets: list[QuarantineBucket]
    totals: QuarantineCounts
    groups: list[str]


class DriftTrends(BaseModel):
    window: TrendWindowOut
    buckets: list[DriftBucket]
    totals: DriftCounts
    groups: list[str]


class DeviceSchema(BaseModel):
    device_id: str
    schema_fingerprint: str = Field(description="the fingerprint of the schema the device's files had")
    first_seen: datetime = Field(description="when the device first sent a file of this schema")
    last_seen: datetime
    ingestions: int
    new_schema: bool = Field(
        description="true when the device had sent another schema before: it started sending this one "
        "at first_seen"
    )


class DeviceSchemaPage(BaseModel):
    dataset: str
    items: list[DeviceSchema] = Field(description="by device, then first_seen")
    total: int
    limit: int
    offset: int


class EdgePing(BaseModel):
    """``GET /api/edge/ping``: the device the credential belongs to."""

    device_id: str | None


class EdgeHeartbeat(BaseModel):
    """``POST /api/edge/heartbeat``: the health as recorded."""

    device_id: str | None
    online: bool
    reported_at: str


class EdgeEnrolled(BaseModel):
    """``POST /api/edge/enroll``: the device (never its secrets) and its new token, shown once."""

    device: dict[str, Any]
    device_token: str
    created: bool


# --- edge device routes: upload and the command channel (issue 8, branch edgeup) -----------------


class EdgeRegistered(Registered):
    """``POST /api/edge/ingest/upload``: the ingestion, with its id also as ``ingestion_id``."""

    ingestion_id: uuid.UUID = Field(description="the same as id: the name the edge agent reads")


class EdgeCommand(BaseModel):
    """One command handed to the device; ``params`` never holds a secret."""

    command_id: str
    kind: str = Field(
        description="restart_agent, set_sampling_interval, rotate_token, upload_logs, update_agent"
    )
    params: dict[str, Any]
    issued_at: str = Field(description="when an admin queued it (UTC, ISO 8601)")
    expires_at: str = Field(description="after this instant the command is expired and not run")


class EdgeCommands(BaseModel):
    """``GET /api/edge/commands``: the caller's commands to run, oldest first."""

    items: list[EdgeCommand]


class EdgeCommandAcked(BaseModel):
    """``POST /api/edge/commands/<id>/ack``: the command's final state."""

    command_id: str
    status: str = Field(description="succeeded or failed")
    finished_at: str


# --- device admin (api/devices.py, issue 8) -------------------------------------------------------


class DeviceOut(Row):
    """A device as any read shows it: never its token hash or enrollment fingerprint."""

    device_id: str
    status: str = Field(description="active or revoked")
    label: str
    group: str
    datasets: list[str]
    cadence_seconds: float | None
    last_seen_at: datetime | None
    online: bool
    has_fingerprint: bool
    health: dict[str, Any]


class DeviceList(BaseModel):
    items: list[DeviceOut]
    limit: int
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last")


class DeviceProvisioned(BaseModel):
    """The device and its token, shown this once (only its keyed hash is kept)."""

    device: DeviceOut
    device_token: str


class DeviceDeleted(BaseModel):
    device_id: str
    deleted: bool


class CommandOut(Row):
    command_id: str
    device_id: str
    kind: str
    params: dict[str, Any]
    status: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    group: str


class CommandList(BaseModel):
    items: list[CommandOut]
    limit: int
    next_cursor: str | None


class GroupCommandQueued(BaseModel):
    group: str
    queued: int = Field(description="commands queued: one per active device of the group")
    commands: list[CommandOut]


class ThresholdOut(BaseModel):
    sensor: str
    direction: str
    warning: float | None
    critical: float | None


class ThresholdSet(BaseModel):
    device_id: str | None = Field(description="null for the fleet's defaults")
    thresholds: list[ThresholdOut]


class AlertOut(Row):
    alert_id: str
    device_id: str
    kind: str
    sensor: str
    level: str
    message: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


class AlertList(BaseModel):
    items: list[AlertOut]
    limit: int
    next_cursor: str | None


# --- ops: runtime configuration and database size ---------------------------------------------------


class RuntimeConfig(BaseModel):
    settings: dict[str, Any] = Field(description="every settings field; secrets are `[redacted]` or null")
    redacted: list[str] = Field(description="the names of the secret fields (never shown)")


class TableSize(Row):
    schema_: str = Field(alias="schema", description="the table's schema (namespace)")
    table: str
    rows_estimate: int | None = Field(description="the planner's row estimate; null before ANALYZE")
    total_bytes: int = Field(description="on disk, indexes and TOAST included")


class DatabaseSizes(BaseModel):
    items: list[TableSize]
    total: int
    total_bytes: int


# --- curated sample of a dataset --------------------------------------------------------------------


class SampleColumn(BaseModel):
    name: str
    type: str = Field(description="the column's Postgres type")
    lineage: bool = Field(description="a lineage column EventPulse adds to every curated row")


class CuratedSample(BaseModel):
    dataset: str
    table: str = Field(description="the curated table")
    columns: list[SampleColumn] = Field(description="data, then lineage columns; none before the first load")
    items: list[Row] = Field(description="curated rows, newest load first (file order for one ingestion)")
    total: int
    limit: int
    offset: int

"""The metadata store port, split by aggregate; ``MetadataStore.transaction()`` holds one of each.

- ``Ingestions``: an ingestion's row, its claim and state changes (compare-and-set), its artifacts;
- ``Schemas``: a dataset's row, its schema history and the contract versions it was loaded under;
- ``AuditLog``: who did what, and when;
- ``SourceObjects``: which storage object generation became which ingestion (event idempotency);
- ``CuratedTables``: DDL and the bulk load into a dataset's curated table;
- ``LineageOutbox``: OpenLineage events waiting to be pushed (written with the state they report).
- ``QuarantinedRows``: rows of a file that were held back or discarded, kept with why and as read.
- ``Statistics``: read-only aggregates over UTC time buckets (the trends API).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from eventpulse.schema.model import TableSchema
    from eventpulse.states import Status

Row = dict[str, Any]
"""One record of the metadata store, as plain column -> value."""


@dataclass(frozen=True)
class NewIngestion:
    dataset: str
    filename: str
    source: str
    raw_key: str
    sha256: str
    size_bytes: int
    max_attempts: int
    created_by: str
    replay_of: uuid.UUID | None = None
    options: Mapping[str, Any] | None = None
    sheet: str = ""
    """The workbook sheet it reads, part of its identity: '' (not a workbook, or the first sheet), a
    sheet name, or ``[n]`` for a 0-based index n > 0 (see ``landing/sheets.py``)."""


class Page(NamedTuple):
    """One page of a filtered list, and the total number of matches."""

    items: list[Row]
    total: int


class Ingestions(Protocol):
    def register(self, new: NewIngestion) -> tuple[Row, bool]:
        """Record a new ingestion (audited); (row, created).

        An original (not a replay) is unique per (dataset, sha256, sheet): a repeat returns the first.
        """
        ...

    def get(self, ingestion_id: uuid.UUID) -> Row | None: ...

    def lock(self, ingestion_id: uuid.UUID) -> Row | None:
        """The row, locked until the transaction ends (an operator's decision on it)."""
        ...

    def page(
        self,
        *,
        dataset: str | None = None,
        statuses: Sequence[str] = (),
        source: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of ingestions, newest first, and the total matching the filters."""
        ...

    def claim(self, ingestion_id: uuid.UUID, *, worker: str) -> Row | None:
        """RECEIVED or FAILED_EXCEPTION with attempts left -> PROCESSING; counts the attempt."""
        ...

    def transition(
        self,
        ingestion_id: uuid.UUID,
        *,
        expected: Iterable[Status],
        target: Status,
        actor: str,
        details: Mapping[str, Any] | None = None,
        holder: str | None = None,
        finished: bool = False,
        **fields: Any,
    ) -> Row | None:
        """Compare-and-set: move to ``target`` only from one of ``expected`` (and, with ``holder``, only
        while that worker holds the claim), with its audit event; None when it lost the race.
        ``finished`` stamps ``finished_at`` with the same database time as ``updated_at``."""
        ...

    def finish(
        self,
        ingestion_id: uuid.UUID,
        *,
        worker: str,
        status: Status,
        details: Mapping[str, Any],
        artifacts: Mapping[str, Mapping[str, Any]],
        finished: bool,
        **fields: Any,
    ) -> Row | None:
        """PROCESSING -> ``status`` while ``worker`` holds the claim, with the artifacts; None if lost."""
        ...

    def heartbeat(self, ingestion_id: uuid.UUID, *, worker: str, rows_processed: int = 0) -> bool:
        """Refresh the heartbeat (and progress) of a claim this worker still holds."""
        ...

    def find_stale(self, *, older_than_seconds: float) -> list[uuid.UUID]:
        """PROCESSING ingestions whose heartbeat is older than the threshold."""
        ...

    def release_stale(self, ingestion_id: uuid.UUID, *, older_than_seconds: float, actor: str) -> Row | None:
        """A stale PROCESSING claim -> FAILED_EXCEPTION (compare-and-set, audited)."""
        ...

    def find_unqueued(self, *, older_than_seconds: float) -> list[uuid.UUID]:
        """RECEIVED ingestions whose delivery looks lost."""
        ...

    def find_waiting(self, dataset: str, *, limit: int, exclude: uuid.UUID | None = None) -> list[uuid.UUID]:
        """RECEIVED ingestions of ``dataset`` with attempts left, oldest first (a worker's batch pass)."""
        ...

    def find_retryable(self, *, older_than_seconds: float) -> list[uuid.UUID]:
        """FAILED_EXCEPTION ingestions with attempts left whose failure is older than the threshold."""
        ...

    def count_backlog(self) -> dict[str, dict[str, int]]:
        """Unfinished ingestions per source and state: RECEIVED and FAILED_EXCEPTION with attempts left
        (waiting for a worker), PROCESSING (in flight). The intake sheds load on it."""
        ...

    def mark_enqueued(self, ingestion_id: uuid.UUID) -> datetime | None:
        """Remember that the ingestion is handed to the queue; the time stored (None: no such ingestion)."""
        ...

    def save_artifacts(self, ingestion_id: uuid.UUID, artifacts: Mapping[str, Mapping[str, Any]]) -> None:
        """Store (or replace) artifacts by kind: quality, drift, lineage, load."""
        ...

    def artifacts(self, ingestion_id: uuid.UUID) -> dict[str, Any]: ...

    def find_replay_originals(
        self, *, dataset: str, since: datetime | None, until: datetime | None
    ) -> list[Row]:
        """First ingestions (not replays) of a dataset created in [since, until), oldest first."""
        ...

    def find_prunable(self, *, cutoff: datetime) -> list[Row]:
        """Final ingestions older than ``cutoff`` that retention may delete, replays first."""
        ...

    def count_artifacts(self, ingestion_ids: Sequence[uuid.UUID]) -> int: ...

    def delete(self, ingestion_ids: Sequence[uuid.UUID], *, cutoff: datetime) -> int:
        """Delete these ingestions (and their artifacts) if they are still prunable; how many went."""
        ...

    def find_referenced_keys(
        self, raw_keys: Iterable[str], *, excluding: AbstractSet[uuid.UUID] = frozenset()
    ) -> set[str]:
        """The raw keys some ingestion, other than those ``excluding``, still references."""
        ...


# --- metadata store: datasets and schema history --------------------------------------------------


class Schemas(Protocol):
    def lock_dataset(self, dataset: str, curated_table: str) -> Row:
        """Ensure the dataset row exists and lock it for this transaction (serialises its writers)."""
        ...

    def update_dataset(self, dataset: str, **fields: Any) -> None: ...

    def list_datasets(self) -> list[Row]: ...

    def latest(self, dataset: str) -> tuple[int, TableSchema] | None:
        """The newest accepted schema version and schema, None before the first load."""
        ...

    def append(
        self,
        *,
        dataset: str,
        schema: TableSchema,
        contract_version: str | None,
        ingestion_id: uuid.UUID | None,
        reason: str,
        actor: str,
    ) -> int:
        """Append an accepted schema version (audited); the caller holds the dataset lock."""
        ...

    def history(self, dataset: str) -> list[Row]: ...

    def remember_contract_version(
        self, *, dataset: str, version: str, body: Mapping[str, Any], actor: str
    ) -> bool:
        """Store a contract version the first time it is seen (audited); True when new."""
        ...


ContractSource = Literal["file", "api"]


@dataclass(frozen=True)
class ContractRecord:
    """One adopted version of a dataset's contract."""

    dataset: str
    version: str
    body: dict[str, Any]
    """The GX ExpectationSuite JSON of that version."""
    source: ContractSource
    """``file``: read from contracts/<dataset>.json; ``api``: saved through the API."""
    adopted_by: str
    adopted_at: datetime


class Contracts(Protocol):
    """Which version of each dataset's contract is current, and every version it ever had."""

    def current(self, dataset: str) -> ContractRecord | None:
        """The dataset's newest adoption; None when none was ever adopted."""
        ...

    def adopt(
        self,
        *,
        dataset: str,
        version: str,
        body: Mapping[str, Any],
        source: ContractSource,
        actor: str,
        note: str | None = None,
    ) -> tuple[ContractRecord, bool]:
        """Make ``version`` current (its body stored once); ``(current record, changed)``.

        Serialised per dataset, audited as ``contract.adopted``. A ``file`` adoption changes nothing
        when the file said this version last time (an API save since then stays current); an ``api``
        adoption changes nothing when this version is already current.
        """
        ...

    def version(self, dataset: str, version: str) -> Row | None:
        """One stored version: ``dataset``, ``version``, ``body``, ``first_seen_at``."""
        ...

    def history(self, dataset: str, *, limit: int = 100) -> list[Row]:
        """The dataset's adoptions, newest first.

        Each: ``version``, ``source``, ``adopted_by``, ``adopted_at``, ``note``.
        """
        ...

    def datasets(self) -> list[str]:
        """Datasets with an adopted contract, sorted."""
        ...


class MartFreshness(Protocol):
    def to_dict(self) -> dict[str, float | None]:
        """``warn_after_seconds`` and ``error_after_seconds`` (None: no limit)."""
        ...


class MartDefinition(Protocol):
    """A mart as a contract declares it (``contracts/marts.py: MartSpec``)."""

    @property
    def name(self) -> str: ...

    @property
    def view(self) -> str: ...

    @property
    def sql(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def owner(self) -> str: ...

    @property
    def freshness(self) -> MartFreshness: ...


class Marts(Protocol):
    """The data products: each mart a view over curated tables, declared in a dataset's contract."""

    def apply(
        self,
        dataset: str,
        marts: Sequence[MartDefinition],
        *,
        contract_version: str,
        strict: bool,
        actor: str,
    ) -> list[Row]:
        """Create or replace the dataset's marts as declared; drop the ones it no longer declares.

        ``strict``: a mart PostgreSQL refuses raises MartRefused (422, naming the mart and Postgres's
        message), and the caller's transaction rolls back. Otherwise the mart is recorded with status
        ``error`` (``pending`` when a table it reads does not exist yet) and the rest go on. Audited
        as ``mart.applied``. Returns the dataset's mart rows.
        """
        ...

    def retry_pending(self) -> list[str]:
        """Create the marts not created yet (their tables now exist?); the names now ``ok``.

        A mart another transaction is changing (a load creating its table) is left to that one:
        never waited for."""
        ...

    def catalog(self) -> list[Row]:
        """Every mart with its view's columns, the datasets it reads, their last load, and its rows."""
        ...


# --- metadata store: audit log --------------------------------------------------------------------


class AuditLog(Protocol):
    def record(
        self,
        *,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: str,
        dataset: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None: ...

    def page(
        self,
        *,
        dataset: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """A page of audit events, newest first, and the total matching the filters."""
        ...

    def count_before(self, cutoff: datetime) -> int: ...

    def delete_before(self, cutoff: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` events older than ``cutoff`` (call until it returns 0)."""
        ...


# --- metadata store: source objects ---------------------------------------------------------------

SourceOutcome = Literal["registered", "duplicate", "rejected"]


@dataclass(frozen=True)
class SourceObjectSeen:
    outcome: str
    """``registered``, ``duplicate`` or ``rejected`` (as first recorded), or ``duplicate`` for a raw key."""
    ingestion_id: uuid.UUID | None
    reason: str | None


class SourceObjects(Protocol):
    def find(self, *, bucket: str, name: str, generation: int) -> SourceObjectSeen | None:
        """What became of this object generation before (or of an ingestion whose raw key is ``name``)."""
        ...

    def record(
        self,
        *,
        bucket: str,
        name: str,
        generation: int,
        outcome: SourceOutcome,
        ingestion_id: uuid.UUID | None = None,
        reason: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """Remember what this object generation became (the first record wins)."""
        ...


# --- lineage outbox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEvent:
    """One OpenLineage event waiting in the outbox, leased to the sender that fetched it."""

    id: int
    ingestion_id: uuid.UUID
    event: dict[str, Any]
    attempts: int
    """Pushes tried before this one."""


class LineageOutbox(Protocol):
    def add(self, ingestion_id: uuid.UUID, event: Mapping[str, Any]) -> None:
        """Queue an event for pushing, in the transaction of the state change that produced it."""
        ...

    def lease_due(
        self, *, limit: int, lease_seconds: float, ingestion_id: uuid.UUID | None = None
    ) -> list[OutboxEvent]:
        """Unsent events whose retry time has come, oldest first, leased for ``lease_seconds``.

        Only the oldest unsent event of an ingestion can be due (one per ingestion per call): a run's
        START is never delivered after its COMPLETE or FAIL. Leases are taken one caller at a time.
        """
        ...

    def mark_sent(self, event_id: int) -> None: ...

    def mark_failed(self, event_id: int, *, error: str, retry_in_seconds: float) -> None:
        """Count the failed push, keep its error and try again after ``retry_in_seconds``."""
        ...

    def events(self, ingestion_id: uuid.UUID) -> list[Row]:
        """Every outbox row of an ingestion, oldest first (sent or not)."""
        ...

    def count_pending(self) -> int:
        """Events not sent yet."""
        ...


# --- curated tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageValues:
    """The lineage columns every row of one load carries."""

    ingestion_id: str
    source_sha256: str
    contract_version: str
    loaded_at: datetime


@dataclass(frozen=True)
class LoadStats:
    """What one load did: rows taken from the file, and per key inserted, changed or left as it was."""

    rows_staged: int
    inserted: int
    updated: int
    """Rows that existed under their key and whose data changed (rewritten with this load's lineage)."""
    unchanged: int = 0
    """Rows that existed with the same data: not rewritten, they keep the lineage of their last change."""
    skipped: int = 0
    """Of the unchanged rows, those whose row hash the table held: never sent to Postgres at all."""

    def to_dict(self) -> dict[str, int]:
        return {
            "rows_staged": self.rows_staged,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


class CuratedLoad(Protocol):
    """One file's load into one curated table: ``write()`` per batch, then ``finish()`` or ``abort()``."""

    def write(self, batch: pa.RecordBatch) -> None:
        """Send one batch (the schema's columns, then int64 ``_source_row``)."""
        ...

    def abort(self) -> None:
        """Stop after a failure elsewhere; the transaction then rolls back."""
        ...

    def finish(self, *, exclude_rows: Sequence[int] = ()) -> LoadStats:
        """Complete the load (merge into the table); the transaction commits it.

        ``exclude_rows`` are ``_source_row`` numbers that were sent but must not be loaded (held back
        by the quarantine); ``rows_staged`` then counts only the rows that were loaded.
        """
        ...


class CuratedTables(Protocol):
    def columns(self, table: str) -> dict[str, str]:
        """The table's columns as the database has them (name -> type); empty when it does not exist."""
        ...

    def profile(
        self, table: str, columns: Sequence[str], *, sample_rows: int, sample_values: int
    ) -> dict[str, Row]:
        """Read-only value statistics of some columns over at most ``sample_rows`` of the table's rows.

        Per column that exists: ``rows`` and ``nulls`` (counted over the sampled rows), ``min_number``
        and ``max_number`` (numeric columns, else None), ``min_length`` and ``max_length`` (of the
        values as text), ``sample`` (up to ``sample_values`` distinct non-null values as text). An
        absent table or column is left out.
        """
        ...

    def preview(
        self,
        table: str,
        *,
        order_by: Sequence[str],
        limit: int,
        offset: int = 0,
        where: Mapping[str, object] | None = None,
        descending: bool = False,
    ) -> Page:
        """A page of a curated table's rows (data and lineage columns), ordered by ``order_by``
        (newest first when ``descending``), only rows whose columns equal ``where``'s values; an
        empty page when the table does not exist yet."""
        ...

    def apply(self, statements: Sequence[str]) -> None:
        """Run planned DDL (``curate.ddl.plan_table_changes``) in this transaction."""
        ...

    def start_load(
        self,
        table: str,
        schema: TableSchema,
        primary_key: Sequence[str],
        lineage: LineageValues,
        *,
        keys_verified_unique: bool,
        absent: frozenset[str] = frozenset(),
        source_bytes: int | None = None,
    ) -> CuratedLoad:
        """Begin loading ``table``; rows become visible only when the transaction commits.

        ``source_bytes``, the raw file's size, tells a large file from a small one before its rows
        arrive (whether skipping unchanged rows by their hash is worth fetching the table's hashes).

        ``absent`` names the schema's columns the file does not carry: a row the load inserts gets
        NULL there, a row it updates keeps the value it had (the file says nothing about them).
        """
        ...

    def rows_of_ingestion(
        self,
        table: str,
        ingestion_id: uuid.UUID,
        *,
        columns: Sequence[str],
        where: Mapping[str, object] | None = None,
        limit: int,
    ) -> list[Row]:
        """The rows an ingestion loaded (lineage ``_ingestion_id``), only ``columns`` (a column the
        table lacks reads None), only rows whose columns equal ``where``'s values, at most ``limit``,
        in source-row order; empty when the table does not exist."""
        ...


# --- quarantine: rows held back or discarded --------------------------------------------------------

QuarantineKind = Literal["expectation", "discard_row", "discard_value"]
QuarantineStatus = Literal["held", "replayed", "discarded"]
QUARANTINE_KINDS: tuple[QuarantineKind, ...] = ("expectation", "discard_row", "discard_value")
QUARANTINE_STATUSES: tuple[QuarantineStatus, ...] = ("held", "replayed", "discarded")


@dataclass(frozen=True)
class NewQuarantinedRow:
    """One row of a file that was not loaded as it was read."""

    source_row: int
    """1-based data row number in the file (``_source_row``)."""
    kind: QuarantineKind
    failures: Sequence[Mapping[str, Any]]
    """Why: ``[{expectation_type, kwargs, severity}]``, every expectation (or drift rule) it failed."""
    values: Mapping[str, Any]
    """The row's values as read (JSON-safe)."""
    status: QuarantineStatus = "held"
    resolution_reason: str | None = None


@dataclass(frozen=True)
class QuarantineOrigin:
    """What every quarantined row of one ingestion shares."""

    ingestion_id: uuid.UUID
    dataset: str
    sheet: str
    contract_version: str
    raw_uri: str
    device_id: str | None = None


@dataclass(frozen=True)
class QuarantineFilter:
    """Which quarantined rows: every given field must match (``ids``: one of them)."""

    dataset: str | None = None
    ingestion_id: uuid.UUID | None = None
    expectation: str | None = None
    """An expectation type one of its failures names."""
    device_id: str | None = None
    status: QuarantineStatus | None = None
    kind: QuarantineKind | None = None
    ids: Sequence[int] | None = None


class QuarantinedRows(Protocol):
    def add(self, origin: QuarantineOrigin, rows: Sequence[NewQuarantinedRow], *, actor: str) -> int:
        """Store the rows of one ingestion (one audit event with the counts); how many were stored."""
        ...

    def page(self, where: QuarantineFilter, *, limit: int, after: int | None = None) -> list[Row]:
        """Up to ``limit`` matching rows with ``id > after``, by ascending id (keyset paging)."""
        ...

    def count(self, where: QuarantineFilter) -> int: ...

    def lock(self, where: QuarantineFilter, *, limit: int) -> list[Row]:
        """Matching rows by id, locked until the transaction ends (an operator acts on them)."""
        ...

    def resolve(
        self,
        ids: Sequence[int],
        *,
        status: QuarantineStatus,
        actor: str,
        reason: str | None,
        replay_ingestion_id: uuid.UUID | None = None,
    ) -> int:
        """Mark held rows replayed or discarded (only rows still held change); how many changed."""
        ...

    def update_failures(
        self, row_id: int, *, failures: Sequence[Mapping[str, Any]], contract_version: str
    ) -> None:
        """A held row failed again under a newer contract: record why, it stays held."""
        ...


# --- statistics (trends) --------------------------------------------------------------------------

TrendBucket = Literal["hour", "day", "week"]
BUCKET_LENGTH: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
TrendGroup = Literal["status", "dataset", "source"]
"""What a trend can be grouped by: one ingestion column each (``device`` joins them with the edge issue)."""


@dataclass(frozen=True)
class TrendWindow:
    """The ingestions created in [since, until) (aware UTC instants), cut into calendar buckets.

    Buckets start at UTC hour, day or ISO week (Monday) boundaries, so the first and last can be
    partial: they count only what falls inside the window.
    """

    since: datetime
    until: datetime
    bucket: TrendBucket
    dataset: str | None = None
    source: str | None = None
    group_by: TrendGroup | None = None

    def first_bucket(self) -> datetime:
        start = self.since.replace(minute=0, second=0, microsecond=0)
        if self.bucket == "hour":
            return start
        start = start.replace(hour=0)
        return start if self.bucket == "day" else start - timedelta(days=start.weekday())

    def bucket_count(self) -> int:
        """How many buckets start before ``until`` (at least one when since < until)."""
        step = BUCKET_LENGTH[self.bucket]
        return max(0, -((self.first_bucket() - self.until) // step))

    def bucket_starts(self) -> list[datetime]:
        """Every bucket start of the window, oldest first (fixed-length steps from ``first_bucket``)."""
        first, step = self.first_bucket(), BUCKET_LENGTH[self.bucket]
        return [first + n * step for n in range(self.bucket_count())]


class Statistics(Protocol):
    """Read-only aggregates of ingestions by the bucket of their ``created_at``.

    Each method returns one row per (bucket, ...) with facts, and one row with only ``bucket`` (the
    rest None) for a bucket without any, so every bucket of the window is present, oldest first.
    """

    def ingestion_trends(self, window: TrendWindow) -> list[Row]:
        """Rows of bucket, grp, status, ingestions, rows_loaded, bytes."""
        ...

    def expectation_trends(self, window: TrendWindow) -> list[Row]:
        """One row per series (ingestions with a quality report only), unlike the other trends: grp,
        expectation_type, column_name, severity, and ``buckets``, a list of ``[index, evaluated,
        passed, unexpected_rows]`` for each bucket with reports, oldest first; ``index`` is the
        bucket's position in ``window.bucket_starts()``. A series has thousands of points, so they
        travel as one value per series rather than one row per point."""
        ...

    def quarantine_trends(self, window: TrendWindow) -> list[Row]:
        """Rows of bucket, grp, kind, status, rows, ingestions: the quarantined rows (held back,
        or traced by discard_row / discard_value) of the window's ingestions."""
        ...

    def drift_trends(self, window: TrendWindow) -> list[Row]:
        """Rows of bucket, grp, and either outcome + ingestions (ingestions whose drift decision had
        a change) or kind + changes (schema changes of that kind)."""
        ...

    def device_schemas(
        self, dataset: str, *, source: str | None, prefix: str, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        """Per (source, schema_fingerprint) of the dataset's ingestions whose source starts with
        ``prefix`` (or is ``source``): source, schema_fingerprint, first_seen, last_seen, ingestions,
        and ``nth`` (1: the source's first schema; higher: a schema it started sending later).
        Ordered by source then first_seen; also the number of such pairs."""
        ...

    def table_sizes(self) -> list[Row]:
        """Per table of the database (system schemas left out): schema, table, rows_estimate (the
        planner's estimate, None before the first ANALYZE) and total_bytes (with indexes and TOAST),
        largest first."""
        ...


class Transaction(Protocol):
    """Every aggregate of the store on ONE database transaction."""

    @property
    def ingestions(self) -> Ingestions: ...

    @property
    def schemas(self) -> Schemas: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def contracts(self) -> Contracts: ...

    @property
    def marts(self) -> Marts: ...

    @property
    def sources(self) -> SourceObjects: ...

    @property
    def curated(self) -> CuratedTables: ...

    @property
    def lineage(self) -> LineageOutbox: ...

    @property
    def quarantine(self) -> QuarantinedRows: ...

    @property
    def stats(self) -> Statistics: ...


class MetadataStore(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        ...

    def read(self) -> AbstractContextManager[Transaction]:
        """A read-only view (nothing done through it is committed)."""
        ...

    def is_reachable(self) -> bool:
        """True when a trivial query succeeds (the readiness probe)."""
        ...

    def connection_lost(self, exc: BaseException) -> bool:
        """True when ``exc`` (or an error it was raised from) says the store's connection went away:
        a restart, a failover, a network cut. Its transaction rolled back; the work can be redone."""
        ...

    def migrate(self) -> None:
        """Bring the store's schema up to date; safe when several processes call it at once."""
        ...

    def location(self) -> tuple[str, str]:
        """OpenLineage namespace (``postgres://host:port``) and database name of the curated store."""
        ...

    def close(self) -> None: ...

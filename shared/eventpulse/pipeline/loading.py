"""The transactional part of processing: DDL when needed, gate and COPY per batch, upsert, record.

Everything here runs in ONE database transaction. A failing quality gate raises QualityFailed so
the transaction rolls back; a crash at any point leaves the curated table as it was.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.contracts.model import Contract
from eventpulse.curate.ddl import (
    build_table_schema,
    curated_table_name,
    plan_table_changes,
    reconcile_recorded,
)
from eventpulse.devices.binding import (
    DEVICE_COLUMN,
    binding_failure,
    describe_foreign,
    device_of_source,
)
from eventpulse.errors import BadData, ContractError
from eventpulse.parse.readers import TabularSource
from eventpulse.pipeline.evidence import describe_read, with_candidates, with_header_evidence, with_read
from eventpulse.pipeline.heartbeat import Heartbeat
from eventpulse.pipeline.holding import (
    DiscardTrace,
    held_rows_replayed,
    jsonable,
    read_held_rows,
    replayed_sender,
    settle_replay,
)
from eventpulse.pipeline.lineage_push import queue_lineage
from eventpulse.pipeline.records import build_lineage
from eventpulse.pipeline.renaming import RenameWatch
from eventpulse.pipeline.settling import DriftSettler, Settled
from eventpulse.ports import LineageValues, LoadStats, NewQuarantinedRow, QuarantineOrigin, Transaction
from eventpulse.quality.gate import SOURCE_ROW, QualityGate, QualityReport
from eventpulse.schema.cast import cast_batch
from eventpulse.schema.drift import DriftDecision
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.schema.model import TableSchema
from eventpulse.states import Status

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services

log = logging.getLogger(__name__)

UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


class QualityFailed(Exception):
    """Raised inside the load transaction so that it rolls back."""

    def __init__(self, report: QualityReport, rows_total: int, job: LoadJob):
        super().__init__("quality gate failed")
        self.report = report
        self.rows_total = rows_total
        self.job = job

    def summary(self) -> str:
        failed = [r for r in self.report.results if not r.success and r.severity == "critical"]
        names = ", ".join(
            f"{r.expectation_type}({r.kwargs.get('column') or r.kwargs.get('column_list') or ''})"
            for r in failed[:3]
        )
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        return f"{len(failed)} critical expectation(s) failed: {names}{more}"


class PlanChanged(Exception):
    """The file did not match the plan it was loaded under: roll back, then act on ``settled``."""

    def __init__(self, settled: Settled):
        super().__init__(settled.decision.reason or "the drift decision changed the load plan")
        self.settled = settled


def follows_plan(decision: DriftDecision, plan: DriftDecision) -> bool:
    """True when loading under ``decision`` writes exactly what loading under ``plan`` wrote."""
    return (
        decision.outcome == "accept"
        and decision.baseline == plan.baseline
        and not decision.discard_rows_with_values_in
        and not decision.discard_rows_on_cast_failure
        and not decision.null_on_cast_failure
    )


class HistoryMoved(Exception):
    """The dataset's schema history changed after the plan was made: decide again under the lock."""

    def __init__(self, dataset: str, planned: int | None, current: int | None):
        super().__init__(
            f"the schema history of dataset {dataset!r} moved from version {planned} to {current} while "
            "this file was planned; it is decided again against the current history"
        )


class LostClaim(Exception):
    """Another worker took this ingestion over (our heartbeat went stale): roll back our load."""


@dataclass(frozen=True)
class LoadOutcome:
    status: Status
    stats: LoadStats
    rows_total: int
    rows_discarded: int


@dataclass
class DeviceBinder:
    """Binds the rows of a device's file to the sender (``eventpulse.devices.binding.bind_row``).

    Absent ``device_id`` values become the sender's; rows naming another device are removed from the
    load and kept here, as read, for the quarantine (or counted for the refusal under ``fail_file``).
    """

    sender: str
    quarantines: bool
    foreign: dict[str, int] = field(default_factory=dict)
    records: list[NewQuarantinedRow] = field(default_factory=list)

    def bind(self, typed: pa.RecordBatch, raw: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Array]:
        """The batch with absent ids filled in, and the mask of its foreign rows.

        ``bind_row`` vectorised (Arrow compute, no per-row Python: a device sends 1,000 events/s).
        """
        n = typed.num_rows
        if DEVICE_COLUMN not in typed.schema.names or n == 0:
            return typed, pa.array([False] * n, pa.bool_())
        index = typed.schema.get_field_index(DEVICE_COLUMN)
        field_ = typed.schema.field(index)
        values = typed.column(index)
        sender = pa.scalar(self.sender, field_.type)
        absent = pc.fill_null(pc.equal(values, pa.scalar("", field_.type)), True)
        own = pc.fill_null(pc.equal(values, sender), False)
        foreign = pc.invert(pc.or_(absent, own))
        typed = typed.set_column(index, field_, pc.if_else(absent, sender, values))
        if pc.any(foreign).as_py():
            self._keep_foreign(typed, raw, values, pc.indices_nonzero(foreign))
        return typed, foreign

    def _keep_foreign(
        self, typed: pa.RecordBatch, raw: pa.RecordBatch, values: pa.Array, where: pa.Array
    ) -> None:
        rows = typed.column(SOURCE_ROW).take(where).to_pylist()
        raw_rows = raw.take(where).to_pylist()
        for source_row, device, raw_row in zip(rows, values.take(where).to_pylist(), raw_rows, strict=True):
            self.foreign[str(device)] = self.foreign.get(str(device), 0) + 1
            if self.quarantines:
                self.records.append(
                    NewQuarantinedRow(
                        source_row=int(source_row),
                        kind="expectation",
                        failures=[binding_failure(self.sender)],
                        values=jsonable(raw_row),
                    )
                )

    def refuse_if_foreign(self) -> None:
        """Under ``fail_file``, a foreign row refuses the whole file (FAILED_QUALITY, rolled back)."""
        if self.foreign and not self.quarantines:
            raise BadData(
                describe_foreign(self.sender, self.foreign),
                hint="send only rows whose device_id is this device's (or leave it empty)",
                details={"device_id": self.sender, "foreign_device_ids": dict(sorted(self.foreign.items()))},
            )

    @classmethod
    def for_ingestion(cls, row: Row, contract: Contract) -> DeviceBinder | None:
        sender = device_of_source(row.get("source")) or replayed_sender(row)
        if sender is None or contract.schema.get(DEVICE_COLUMN) is None:
            return None
        return cls(sender=sender, quarantines=contract.quarantines)


@dataclass
class _BatchPreparer:
    """Turns a raw batch into typed rows for the gate and the loader, applying the drift decision.

    Every row it removes and every value it nulls is traced, as read, in ``trace``.
    """

    decision: DriftDecision
    target: TableSchema
    gate: QualityGate
    trace: DiscardTrace
    only_rows: pa.Array | None = None
    """A replay of held rows: only these source rows are prepared; the others are skipped."""
    binder: DeviceBinder | None = None
    """A device's file: rows are bound to the sender, rows naming another device are removed."""
    rows_seen: int = 0
    rows_selected: int = 0
    rows_discarded: int = 0
    values_nulled: int = 0

    def prepare(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        first_row = self.rows_seen + 1
        source_rows = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
        self.rows_seen += n
        if self.only_rows is not None:
            return self._prepare_selected(batch, source_rows)
        self.rows_selected += n
        return self._prepare(batch, source_rows)

    def _prepare_selected(self, batch: pa.RecordBatch, source_rows: pa.Array) -> pa.RecordBatch:
        selected = pc.is_in(source_rows, value_set=self.only_rows)
        if not pc.any(selected).as_py():
            return self._prepare(batch.slice(0, 0), source_rows.slice(0, 0))
        batch, source_rows = batch.filter(selected), source_rows.filter(selected)
        self.rows_selected += batch.num_rows
        return self._prepare(batch, source_rows)

    def _prepare(self, batch: pa.RecordBatch, source_rows: pa.Array) -> pa.RecordBatch:
        n = batch.num_rows
        with_new_values = self._rows_with_new_values(batch)
        keep = pa.array([True] * n, pa.bool_())
        for mask in with_new_values.values():
            keep = pc.and_(keep, pc.invert(mask))
        cast = cast_batch(batch, self.target)
        nulled: dict[str, pa.Array] = {}
        discarded: dict[str, pa.Array] = {}
        for column, failed_rows in cast.failures.items():
            if column in self.decision.null_on_cast_failure:
                self.values_nulled += len(failed_rows)
                nulled[column] = failed_rows
            elif column in self.decision.discard_rows_on_cast_failure:
                dropped = pc.is_in(pa.array(np.arange(n, dtype=np.int64)), value_set=failed_rows)
                keep = pc.and_(keep, pc.invert(dropped))
                discarded[column] = failed_rows
            else:
                self.gate.add_cast_failures(
                    column, source_rows.take(failed_rows).to_pylist(), cast.samples.get(column, [])
                )
        self.trace.add_batch(
            batch, source_rows, new_columns=with_new_values, discarded_casts=discarded, nulled_casts=nulled
        )
        typed = cast.batch.append_column("_source_row", source_rows)
        if self.binder is not None:
            typed, foreign = self.binder.bind(typed, batch)
            keep = pc.and_(keep, pc.invert(foreign))
        kept = typed.filter(keep)
        self.rows_discarded += n - kept.num_rows
        return kept

    def _rows_with_new_values(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """Column -> mask of the rows that carry a value in it (the policy removes those rows)."""
        return {
            column: pc.is_valid(batch.column(column))
            for column in self.decision.discard_rows_with_values_in
            if column in batch.schema.names
        }


def keys_verified_unique(contract: Contract) -> bool:
    """True when a critical uniqueness expectation covers exactly the primary key."""
    pk = set(contract.primary_key)
    for exp in contract.expectations:
        if exp.type in UNIQUE_TYPES and exp.severity == "critical" and set(exp.columns) == pk:
            return True
    return False


@dataclass(frozen=True)
class LoadJob:
    """Everything decided before the load transaction opens."""

    services: Services
    row: Row
    worker: str
    contract: Contract
    observed: TableSchema
    decision: DriftDecision
    drift: dict[str, Any]
    history_version: int | None
    """The schema version the plan was decided against (None: the dataset had no history yet)."""
    timings: dict[str, float]
    """Seconds per step, reported in the load artifact and the log."""

    @property
    def first_schema(self) -> bool:
        """True when this load writes the dataset's "initial" schema (checked under the dataset lock)."""
        return self.history_version is None

    @property
    def ingestion_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.row["id"]))

    @property
    def dataset(self) -> str:
        return str(self.row["dataset"])


def load_curated(
    job: LoadJob,
    source: TabularSource,
    beat: Heartbeat,
    *,
    settler: DriftSettler | None = None,
) -> LoadOutcome:
    """Gate and load in one transaction; raises QualityFailed (rolled back) when the gate fails.

    With ``settler``, the file is loaded optimistically under ``job.decision`` while its schema is
    inferred from the same batches (one read instead of two); once the stream ends, ``settler`` makes
    the real drift decision, and PlanChanged rolls everything back when it differs from the plan.
    A reject ends the load sooner: on the header before any row is read, or at the first batch
    that proves it (``eventpulse.pipeline.settling``).
    """
    inferrer = SchemaInferrer.for_format(source.format) if settler else None
    table = curated_table_name(job.dataset)
    target = job.decision.baseline
    contract = job.contract
    with job.services.store.transaction() as tx:
        dataset_row = tx.schemas.lock_dataset(job.dataset, table)  # serialises loads per dataset
        _ensure_history_unchanged(tx, job)
        read = describe_read(source)
        if settler is not None:
            settler = with_read(settler, read, dataset_row.get("workbook_sheets"))
        watch = RenameWatch.for_header(settler.known, source.columns) if settler else None
        if watch is not None:
            watch.read_known(tx.curated, table)  # before the COPY takes the connection
        if settler is not None:
            _ensure_not_rejected(with_header_evidence(settler.settle_header(source.columns), watch, source))
        ensure_curated_table(tx, dataset_row, target, contract)
        replaying = held_rows_replayed(job.row)
        gate = QualityGate(
            contract, held_rows_only=replaying is not None, engine=job.services.settings.gate_engine
        )
        only = pa.array(replaying.source_rows, pa.int64()) if replaying else None
        binder = DeviceBinder.for_ingestion(job.row, contract)
        preparer = _BatchPreparer(job.decision, target, gate, DiscardTrace(contract), only, binder)
        lineage_values = LineageValues(
            ingestion_id=str(job.ingestion_id),
            source_sha256=str(job.row["sha256"]),
            contract_version=contract.version,
            loaded_at=job.services.clock.now(),
        )
        load = tx.curated.start_load(
            table,
            target,
            contract.primary_key,
            lineage_values,
            # a replay runs no uniqueness check: the last of repeated keys wins, as in an upsert
            keys_verified_unique=keys_verified_unique(contract) and replaying is None,
            absent=frozenset(target.names) - set(source.columns),
            source_bytes=int(job.row["size_bytes"]),
        )
        started = time.perf_counter()
        try:
            for batch in source.batches():
                if settler is not None and inferrer is not None:
                    inferrer.feed(batch)
                    if watch is not None:
                        watch.feed(batch)
                    _ensure_not_rejected(with_candidates(settler.settle_rows(inferrer), watch))
                typed = preparer.prepare(batch)
                load.write(typed)  # serialised now, parsed by Postgres while the gate runs
                gate.feed(typed)
                beat.progress(preparer.rows_seen)
            if settler is not None and inferrer is not None:  # drift is decided before quality
                settled = settler.settle(inferrer.result(), inferrer.rows)
                with_candidates(settled, watch)
                if not follows_plan(settled.decision, job.decision):
                    raise PlanChanged(settled)
                job = replace(job, observed=settled.observed, decision=settled.decision, drift=settled.drift)
            if binder is not None:
                binder.refuse_if_foreign()
            report = gate.finish()
            if not report.passed:
                raise QualityFailed(report, preparer.rows_seen, job)
            held_rows = gate.held_rows()
            held = read_held_rows(source, held_rows, contract) if held_rows and not replaying else []
        except BaseException:
            load.abort()  # end the COPY so the transaction can roll back
            raise
        streamed = time.perf_counter()
        stats = load.finish(exclude_rows=sorted(held_rows))
        job.timings.update(
            stream_s=round(streamed - started, 3), merge_s=round(time.perf_counter() - streamed, 3)
        )
        # Held and discarded rows are recorded in the same transaction as the load and the state.
        tx.quarantine.add(_origin(job), preparer.trace.records, actor=job.worker)
        foreign_held = binder.records if binder is not None else []
        if replaying is None:
            tx.quarantine.add(_origin(job), [*held, *foreign_held], actor=job.worker)
        else:  # a replayed foreign row is held already: it stays so
            settle_replay(
                tx,
                job.contract,
                replaying,
                held_rows,
                preparer.trace,
                job.ingestion_id,
                job.worker,
                kept_held=[r.source_row for r in foreign_held],
            )
            foreign_held = []
        beat.stop()  # the final UPDATE of the ingestion row must not wait on a heartbeat
        if read.get("sheets") and dataset_row.get("workbook_sheets") != read["sheets"]:
            tx.schemas.update_dataset(job.dataset, workbook_sheets=read["sheets"])
        status = _record_success(
            tx, job, report, stats, preparer, rows_held=len(held_rows) + len(foreign_held)
        )
    return LoadOutcome(status, stats, preparer.rows_seen, preparer.rows_discarded)


def _origin(job: LoadJob) -> QuarantineOrigin:
    return QuarantineOrigin(
        ingestion_id=job.ingestion_id,
        dataset=job.dataset,
        sheet=str(job.row.get("sheet") or ""),
        contract_version=job.contract.version,
        raw_uri=job.services.landing.uri(str(job.row["raw_key"])),
        device_id=device_of_source(job.row.get("source")) or replayed_sender(job.row),  # the sender
    )


def _ensure_not_rejected(settled: Settled | None) -> None:
    """Raise PlanChanged (the load rolls back) when the evidence so far already rejects the file."""
    if settled is not None:
        raise PlanChanged(settled)


def _ensure_history_unchanged(tx: Transaction, job: LoadJob) -> None:
    """Raise HistoryMoved when another writer appended a schema version since the plan was made.

    Called under the dataset lock, so the decision that this load writes the "initial" version (or
    evolves from version N) holds until commit: concurrent first loads write one history, not several.
    """
    latest = tx.schemas.latest(job.dataset)
    current = latest[0] if latest else None
    if current != job.history_version:
        raise HistoryMoved(job.dataset, job.history_version, current)


def ensure_curated_table(tx: Transaction, dataset_row: Row, target: TableSchema, contract: Contract) -> None:
    """Bring the curated table to ``target`` under the caller's dataset lock; DDL only when it changes.

    The recorded ``datasets.curated_schema`` only grows and widens: it is the table as the DDL leaves
    it, never a narrower target (which would make the next ADD COLUMN fail on a column that exists).
    """
    table = str(dataset_row["curated_table"])
    recorded = dataset_row["curated_schema"]
    if recorded:
        _ensure_same_primary_key(dataset_row, contract)
    before = TableSchema.from_dict(recorded) if recorded else None
    current = reconcile_recorded(before, tx.curated.columns(table) if before else {}, target)
    statements = plan_table_changes(table, target, contract.primary_key, current)
    tx.curated.apply(statements)
    after = build_table_schema(target, contract.primary_key, current)
    if after != before or dataset_row["contract_version"] != contract.version:
        tx.schemas.update_dataset(
            str(dataset_row["name"]),
            curated_schema=after.to_dict(),
            primary_key=list(contract.primary_key),
            contract_version=contract.version,
        )


def with_device(quality: dict[str, Any], row: Row) -> dict[str, Any]:
    """The quality report with the sending device's id, when a device sent the file (trends per device)."""
    device = device_of_source(row.get("source"))
    return {**quality, "device_id": device} if device is not None else quality


def _ensure_same_primary_key(dataset_row: Row, contract: Contract) -> None:
    """Refuse a contract whose primary key differs from the existing curated table's.

    The upsert merges ON CONFLICT over the contract's key, which the table's constraint must match;
    changing a key (e.g. edge_telemetry's ``event_id`` -> ``device_id, event_id``) is a migration of the
    table's rows and constraint that the pipeline does not guess: it fails the file (FAILED_CONTRACT)
    with the way out, instead of a retried database error.
    """
    before = list(dataset_row.get("primary_key") or [])
    wanted = list(contract.primary_key)
    if before and before != wanted:
        table = str(dataset_row["curated_table"])
        raise ContractError(
            f"the primary key of dataset {dataset_row['name']!r} changed from {before} to {wanted}, but "
            f"{table} exists with the old key",
            hint=(
                f"migrate the table (ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY "
                f"({', '.join(wanted)}), then UPDATE datasets SET primary_key) or restore the old key"
            ),
            details={"recorded_primary_key": before, "contract_primary_key": wanted},
        )


def _record_success(
    tx: Transaction,
    job: LoadJob,
    report: QualityReport,
    stats: LoadStats,
    preparer: _BatchPreparer,
    *,
    rows_held: int,
) -> Status:
    ingestion_id, dataset, worker, contract, decision = (
        job.ingestion_id,
        job.dataset,
        job.worker,
        job.contract,
        job.decision,
    )
    tx.schemas.remember_contract_version(
        dataset=dataset, version=contract.version, body=dict(contract.suite), actor=worker
    )
    if job.first_schema or decision.evolved:
        tx.schemas.append(
            dataset=dataset,
            schema=decision.baseline,
            contract_version=contract.version,
            ingestion_id=ingestion_id,
            reason="initial"
            if job.first_schema
            else "evolved: " + ", ".join(c.column for c in decision.changes),
            actor=worker,
        )
    quality = with_device(report.to_dict(), job.row)
    lineage = build_lineage(
        job.services,
        job.row,
        "COMPLETE",
        observed=job.observed,
        contract=contract,
        drift=job.drift,
        quality=quality,
        output_schema=decision.baseline,
        rows_in=preparer.rows_selected,
        rows_out=stats.rows_staged,
    )
    counts = {"rows_discarded": preparer.rows_discarded, "rows_quarantined": rows_held}
    load = {**stats.to_dict(), **counts, "values_nulled": preparer.values_nulled, "timings": job.timings}
    status = Status.PARTIALLY_LOADED if rows_held else Status.LOADED
    moved = tx.ingestions.finish(
        ingestion_id,
        worker=worker,
        status=status,
        details={**stats.to_dict(), **counts},
        artifacts={"quality": quality, "drift": job.drift, "lineage": lineage, "load": load},
        contract_version=contract.version,
        schema_fingerprint=job.observed.fingerprint(),
        rows_total=preparer.rows_selected,
        rows_loaded=stats.rows_staged,
        rows_rejected=preparer.rows_discarded,
        rows_processed=preparer.rows_seen,
        rows_quarantined=rows_held,
        finished=True,
    )
    if moved is None:
        raise LostClaim(f"ingestion {ingestion_id} is no longer claimed by {worker}")
    queue_lineage(job.services, tx, ingestion_id, lineage)  # pushed once this transaction commits
    log.info(
        "ingestion %s loaded %d rows into %s (%d held back); timings %s",
        ingestion_id,
        stats.rows_staged,
        dataset,
        rows_held,
        job.timings,
    )
    return status

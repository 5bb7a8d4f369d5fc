"""Process one ingestion end to end: claim, read, infer, decide drift, gate, load, record.

Idempotent and at-least-once safe: only a claimable ingestion is processed; the curated load, the
new schema version, the artifacts and the final state commit in ONE transaction, and that commit is
conditional on this worker still holding the claim.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.model import Contract
from eventpulse.contracts.registry import resolve_contract
from eventpulse.errors import BadData, ContractError, CuratedTableImpossible, ReadError, TerminalError
from eventpulse.logs import bind_context, log_scope
from eventpulse.parse.formats import FileFormat, detect_format
from eventpulse.parse.limits import ReadLimits
from eventpulse.parse.readers import ReadOptions, open_source
from eventpulse.parse.renamed import RenamedSource
from eventpulse.pipeline.baseline import ensure_renames_known, known_schema
from eventpulse.pipeline.device_alerts import evaluate_after_load
from eventpulse.pipeline.failures import build_failure_error, describe_for_log
from eventpulse.pipeline.heartbeat import Heartbeat
from eventpulse.pipeline.lineage_push import push_lineage, queue_lineage
from eventpulse.pipeline.loading import (
    HistoryMoved,
    LoadJob,
    PlanChanged,
    QualityFailed,
    load_curated,
    with_device,
)
from eventpulse.pipeline.outage import wait_for_store
from eventpulse.pipeline.records import build_lineage
from eventpulse.pipeline.renaming import describe_candidates
from eventpulse.pipeline.settling import DriftSettler, Settled
from eventpulse.quality.gate import warm_up as warm_up_quality_engine
from eventpulse.schema.drift import DriftDecision, decide_drift
from eventpulse.schema.model import TableSchema
from eventpulse.states import CLAIMABLE, LOADED_STATES, Status, status_after_exception

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services

log = logging.getLogger(__name__)

MAX_REPLANS = 5
"""Decisions per attempt while concurrent loads of the same dataset keep appending schema versions."""


@dataclass(frozen=True)
class ProcessResult:
    ingestion_id: uuid.UUID
    status: Status | None
    """The state this call left the ingestion in; None when it does not exist."""
    processed: bool
    """False when the ingestion was not claimable (already done, or in flight elsewhere)."""
    retry: bool = False
    """A retryable failure: a queue should redeliver."""


@dataclass(frozen=True)
class _Context:
    services: Services
    row: Row
    worker: str

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(str(self.row["id"]))

    @property
    def dataset(self) -> str:
        return str(self.row["dataset"])


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@log_scope
def process_ingestion(
    services: Services, ingestion_id: uuid.UUID, *, worker: str | None = None
) -> ProcessResult:
    """Process the ingestion if it can be claimed; never raises for a failure it recorded."""
    bind_context(ingestion_id=str(ingestion_id))  # on every line of this call and its threads
    worker = worker or default_worker_id()
    with services.store.transaction() as tx:
        row = tx.ingestions.claim(ingestion_id, worker=worker)
        if row is not None:  # the run starts with the claim: its START is recorded in the same commit
            start = build_lineage(services, row, "START")
            tx.ingestions.save_artifacts(ingestion_id, {"lineage_start": start})
            queue_lineage(services, tx, ingestion_id, start)
    if row is None:
        return _not_claimed(services, ingestion_id, worker)
    push_lineage(services, ingestion_id=ingestion_id)
    ctx = _Context(services, row, worker)
    bind_context(dataset=ctx.dataset)
    result = _process_claimed_through_outages(ctx)
    push_lineage(services, ingestion_id=ingestion_id)  # the COMPLETE or FAIL just committed
    if result.status in LOADED_STATES:  # committed: alerts can neither undo nor fail the load
        evaluate_after_load(services, row)
    return result


OUTAGE_RETRIES = 3
"""Times one claim is processed again after its database connection was lost."""


def _process_claimed_through_outages(ctx: _Context) -> ProcessResult:
    """Process a claimed ingestion; when the database connection is lost, wait for the database
    (``database_outage_wait_seconds``) and process it again under the same claim."""
    wait = ctx.services.settings.database_outage_wait_seconds
    retries = 0
    while True:
        try:
            if retries:
                gone = _no_longer_claimed(ctx)
                if gone is not None:
                    return gone
            return _process_claimed(ctx)
        except Exception as exc:
            if retries == OUTAGE_RETRIES or not ctx.services.store.connection_lost(exc):
                raise
            retries += 1
            log.warning(
                "ingestion %s lost its database connection (%s); waiting up to %.0f s for the database",
                ctx.id,
                type(exc).__name__,
                wait,
            )
            if not wait_for_store(ctx.services.store, wait):
                raise  # the claim goes stale, and reclaim takes the ingestion
            log.info("the database is back: ingestion %s goes on under the same claim", ctx.id)


def _no_longer_claimed(ctx: _Context) -> ProcessResult | None:
    """After an outage: None when the claim is still this worker's, else the ingestion's state.

    The connection may have been lost in the COMMIT after its commit record was flushed: the load is
    durable, the ingestion past PROCESSING, and processing it again would only redo the load and then
    fail on the claim. (Or reclaim released the claim meanwhile: its next delivery processes it.)
    """
    with ctx.services.store.read() as tx:
        row = tx.ingestions.get(ctx.id)
    if row is not None and row["status"] == Status.PROCESSING and row["claimed_by"] == ctx.worker:
        return None
    status = Status(row["status"]) if row is not None else None
    log.info("ingestion %s is %s after the outage: not processed again by %s", ctx.id, status, ctx.worker)
    return ProcessResult(ctx.id, status, processed=status in LOADED_STATES)


def _process_claimed(ctx: _Context) -> ProcessResult:
    """Process a claimed ingestion; every failure ends as a recorded state with its FAIL event."""
    row, services, worker = ctx.row, ctx.services, ctx.worker
    with Heartbeat(services.store, ctx.id, worker, services.settings.heartbeat_seconds) as beat:
        try:
            return _process_on_current_history(ctx, beat)
        except ReadError as exc:  # the file cannot be parsed: only another file can help
            return _fail(ctx, Status.FAILED_READ, exc.to_dict())
        except BadData as exc:  # values that cannot be stored as they are: the data is at fault
            return _fail(ctx, Status.FAILED_QUALITY, exc.to_dict())
        except ContractError as exc:
            # The contract broke after intake: no retry can help until someone fixes it and replays.
            return _fail(ctx, Status.FAILED_CONTRACT, _contract_error(ctx, exc))
        except CuratedTableImpossible as exc:  # the schema can never be applied: final at once
            return _fail(ctx, Status.FAILED_DRIFT, exc.to_dict())
        except TerminalError as exc:
            status = status_after_exception(row["attempts"], row["max_attempts"])
            return _fail(ctx, status, exc.to_dict())
        except Exception as exc:
            if services.store.connection_lost(exc):
                raise  # nothing can be recorded now: the caller waits for the database
            status = status_after_exception(row["attempts"], row["max_attempts"])
            # The driver's words (SQL, Postgres's file and line) are for the operator's log only.
            log.error(
                "ingestion %s attempt %s of %s failed (%s): %s",
                ctx.id,
                row["attempts"],
                row["max_attempts"],
                status,
                describe_for_log(exc),
                exc_info=exc,
            )
            error = build_failure_error(exc, ctx.id, status)
            return _fail(ctx, status, error, retry=status is Status.FAILED_EXCEPTION)


def _contract_error(ctx: _Context, exc: ContractError) -> dict[str, Any]:
    error = exc.to_dict()
    fix = f"{exc.hint}; then " if exc.hint else f"fix contracts/{ctx.dataset}.json, then "
    error["hint"] = (
        fix + f"replay the file (eventpulse replay {ctx.id}, or POST /api/ingestions/{ctx.id}/replay)"
    )
    return error


def _not_claimed(services: Services, ingestion_id: uuid.UUID, worker: str) -> ProcessResult:
    with services.store.transaction() as tx:
        row = tx.ingestions.get(ingestion_id)
        if row is None:
            return ProcessResult(ingestion_id, None, processed=False)
        status = Status(row["status"])
        if status in CLAIMABLE and row["attempts"] >= row["max_attempts"]:
            moved = tx.ingestions.transition(
                ingestion_id,
                expected=[status],
                target=Status.FAILED_MAX_ATTEMPTS,
                actor=worker,
                details={"attempts": row["attempts"]},
                finished=True,
            )
            if moved is not None:
                status = Status.FAILED_MAX_ATTEMPTS
    return ProcessResult(ingestion_id, status, processed=False)


def _process_on_current_history(ctx: _Context, beat: Heartbeat) -> ProcessResult:
    """Process; when another load of the dataset appended a schema meanwhile, decide again from it."""
    for _ in range(MAX_REPLANS - 1):
        try:
            return _process(ctx, beat)
        except HistoryMoved as moved:  # nothing was written: the load transaction rolled back
            log.info("ingestion %s: %s", ctx.id, moved)
    return _process(ctx, beat)  # a history that keeps moving fails this attempt; it is retried


@dataclass(frozen=True)
class PlannedLoad:
    """What a load of one ingestion starts from: its contract, how to read it, the planned job."""

    contract: Contract
    fmt: FileFormat
    read_options: ReadOptions
    settler: DriftSettler
    job: LoadJob


def plan_load(services: Services, row: Row, worker: str) -> PlannedLoad:
    """The contract, read options and load job for ``row``, from the newest accepted schema (reads only)."""
    settings = services.settings
    dataset = str(row["dataset"])
    contract = resolve_contract(services, dataset)
    fmt = detect_format(str(row["filename"]))
    options = dict(row.get("options") or {})
    with services.store.read() as tx:
        history = tx.schemas.latest(dataset)
    # Every column the dataset ever accepted: a file's own shape never narrows it (docs/SCHEMA_DRIFT.md).
    known = known_schema(contract, history[1] if history else None)
    ensure_renames_known(contract, known)
    read_options = ReadOptions(
        sheet=options.get("sheet", contract.sheet),
        batch_rows=settings.batch_rows,
        display_name=str(row["filename"]),
        encoding=options.get("encoding"),
        expected_columns=(*known.names, *contract.renames),  # finds a header below title rows
        limits=ReadLimits.from_settings(settings),
    )
    settler = DriftSettler(known, contract)  # rejects as soon as the evidence is conclusive
    # Plan for the common case, a file shaped as known, and learn its real shape while loading it.
    planned = known
    plan = decide_drift(planned, planned, contract.drift_policy)
    version = history[0] if history else None
    job = LoadJob(services, row, worker, contract, planned, plan, {}, version, {})
    return PlannedLoad(contract, fmt, read_options, settler, job)


def _process(ctx: _Context, beat: Heartbeat) -> ProcessResult:
    planned_load = plan_load(ctx.services, ctx.row, ctx.worker)
    contract, fmt, read_options = planned_load.contract, planned_load.fmt, planned_load.read_options
    settler, job = planned_load.settler, planned_load.job
    if contract.expectations:
        warm_up_quality_engine(contract, ctx.services.settings.gate_engine)
    with ctx.services.landing.local_path(str(ctx.row["raw_key"])) as path:
        # A confirmed rename reads the file's column as the known one (contract ``renames``).
        source = RenamedSource.wrap(open_source(path, fmt, read_options), contract.renames)
        if isinstance(source, RenamedSource):
            settler = replace(settler, renamed=source.renamed)
        try:
            try:
                outcome = load_curated(job, source, beat, settler=settler)
            except PlanChanged as changed:
                settled = changed.settled
                if settled.decision.outcome != "accept":
                    status = (
                        Status.FAILED_DRIFT if settled.decision.outcome == "reject" else Status.QUARANTINED
                    )
                    return _finish_without_load(ctx, status, settled, contract)
                job.timings["passes"] = 2  # read again under the decided plan
                job = replace(job, observed=settled.observed, decision=settled.decision, drift=settled.drift)
                outcome = load_curated(job, source, beat)
        except QualityFailed as failed:
            done = failed.job
            return _finish_quality_failure(ctx, failed, done.decision, done.drift, done.observed, contract)
    return ProcessResult(ctx.id, outcome.status, processed=True)


def _finish_without_load(
    ctx: _Context, status: Status, settled: Settled, contract: Contract
) -> ProcessResult:
    decision = settled.decision
    observed = settled.observed if settled.types_read else None  # a header decision read no types
    hint = (
        f"change the file, or the drift_policy in contracts/{ctx.dataset}.json, then replay"
        if status is Status.FAILED_DRIFT
        else "approve or reject the new schema (POST /api/ingestions/<id>/approve or /reject)"
    )
    renames = describe_candidates(settled.drift, ctx.dataset)
    error: dict[str, Any] = {
        "code": "schema_drift" if status is Status.FAILED_DRIFT else "schema_held",
        "message": decision.reason,
        "hint": f"{renames}; or {hint}" if renames else hint,
    }
    if renames:
        error["details"] = {"rename_candidates": settled.drift["rename_candidates"]}
    lineage = build_lineage(
        ctx.services, ctx.row, "FAIL", observed=observed, contract=contract, drift=settled.drift, error=error
    )
    return _finish(
        ctx,
        status,
        details={"reason": decision.reason, "decided_on": settled.evidence, "rows_read": settled.rows_read},
        artifacts={"drift": settled.drift, "lineage": lineage},
        error=error,
        contract_version=contract.version,
        schema_fingerprint=observed.fingerprint() if observed is not None else None,
        rows_processed=settled.rows_read,
        rows_total=settled.rows_read if settled.whole_file else None,
        finished=status is Status.FAILED_DRIFT,
    )


def _finish_quality_failure(
    ctx: _Context,
    failed: QualityFailed,
    decision: DriftDecision,
    drift: dict[str, Any],
    observed: TableSchema,
    contract: Contract,
) -> ProcessResult:
    report = with_device(failed.report.to_dict(), ctx.row)
    error = {
        "code": "quality_gate_failed",
        "message": failed.summary(),
        "hint": "see the quality report for failing expectations and source rows; fix the file, upload again",
    }
    lineage = build_lineage(
        ctx.services,
        ctx.row,
        "FAIL",
        observed=observed,
        contract=contract,
        drift=drift,
        quality=report,
        error=error,
        rows_in=failed.rows_total,
    )
    return _finish(
        ctx,
        Status.FAILED_QUALITY,
        details={"critical_failures": failed.report.critical_failures},
        artifacts={"quality": report, "drift": drift, "lineage": lineage},
        error=error,
        contract_version=contract.version,
        schema_fingerprint=observed.fingerprint(),
        rows_total=failed.rows_total,
        rows_loaded=0,
        rows_processed=failed.rows_total,
        finished=True,
    )


def _fail(ctx: _Context, status: Status, error: dict[str, Any], *, retry: bool = False) -> ProcessResult:
    """Record a failure with its lineage artifact."""
    lineage = build_lineage(ctx.services, ctx.row, "FAIL", error=error)
    return _finish(
        ctx,
        status,
        details=error,
        artifacts={"lineage": lineage},
        retry=retry,
        error=error,
        finished=status is not Status.FAILED_EXCEPTION,
    )


def _finish(
    ctx: _Context,
    status: Status,
    *,
    details: dict[str, Any],
    artifacts: dict[str, Any],
    retry: bool = False,
    finished: bool,
    **fields: Any,
) -> ProcessResult:
    """Move PROCESSING to ``status`` while this worker holds the claim, with the artifacts, in one go."""
    with ctx.services.store.transaction() as tx:
        moved = tx.ingestions.finish(
            ctx.id,
            worker=ctx.worker,
            status=status,
            details=details,
            artifacts=artifacts,
            finished=finished,
            **fields,
        )
        if moved is not None:
            queue_lineage(ctx.services, tx, ctx.id, artifacts["lineage"])
    if moved is None:
        return ProcessResult(ctx.id, None, processed=False)
    return ProcessResult(ctx.id, status, processed=True, retry=retry)

"""Contract dry-run: what would a candidate contract do to files the dataset already received?

Each chosen file is read again from the raw landing and taken through the same steps as processing
(read, drift against the dataset's history under the candidate's policy, the candidate's gate),
without a transaction that writes: nothing is loaded, recorded or audited. Each file's outcome is
compared with what happened when it was processed. The run is bounded: at most ``MAX_FILES`` files,
and files not started before the time budget runs out are reported as skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.diff import expectation_key
from eventpulse.contracts.model import Contract
from eventpulse.errors import BadData, ContractError, NotFound, ReadError
from eventpulse.parse.formats import detect_format
from eventpulse.parse.limits import ReadLimits
from eventpulse.parse.readers import ReadOptions, TabularSource, open_source
from eventpulse.pipeline.baseline import known_schema
from eventpulse.pipeline.holding import DiscardTrace
from eventpulse.pipeline.loading import _BatchPreparer, follows_plan
from eventpulse.pipeline.settling import DriftSettler, Settled
from eventpulse.quality.gate import QualityGate, QualityReport
from eventpulse.schema.drift import DriftDecision, decide_drift
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.schema.model import TableSchema
from eventpulse.states import Status

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services

MAX_FILES = 50
DEFAULT_FILES = 5
MAX_SECONDS = 300.0
DEFAULT_SECONDS = 60.0


@dataclass(frozen=True)
class DryRunRequest:
    dataset: str
    contract: Contract
    last: int = DEFAULT_FILES
    """The dataset's last N distinct raw files (ignored when ``ingestion_ids`` is given)."""
    ingestion_ids: tuple[uuid.UUID, ...] = ()
    max_seconds: float = DEFAULT_SECONDS


def choose_files(services: Services, request: DryRunRequest) -> list[Row]:
    """The ingestions whose raw files the dry-run reads: the chosen ones, or the newest distinct files."""
    with services.store.read() as tx:
        if request.ingestion_ids:
            rows = []
            for ingestion_id in request.ingestion_ids:
                row = tx.ingestions.get(ingestion_id)
                if row is None or row["dataset"] != request.dataset:
                    raise NotFound(
                        f"ingestion {ingestion_id} is not an ingestion of dataset {request.dataset!r}",
                        hint=f"list them with GET /api/ingestions?dataset={request.dataset}",
                        details={"ingestion_id": str(ingestion_id)},
                    )
                rows.append(row)
            return rows
        page = tx.ingestions.page(dataset=request.dataset, limit=min(MAX_FILES * 4, request.last * 4))
    chosen: list[Row] = []
    seen: set[tuple[str, str]] = set()
    for row in page.items:  # newest first; a replay re-reads the same bytes: count each file once
        key = (str(row["sha256"]), str(row.get("sheet") or ""))
        if key not in seen:
            seen.add(key)
            chosen.append(row)
        if len(chosen) == request.last:
            break
    return chosen


def dry_run(
    services: Services, request: DryRunRequest, files: Sequence[Row] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield one result per file as it is evaluated (or skipped), then the summary.

    ``files``: the ingestions ``choose_files`` picked (chosen here when None).
    """
    rows = list(files) if files is not None else choose_files(services, request)
    with services.store.read() as tx:
        history = tx.schemas.latest(request.dataset)
    known = known_schema(request.contract, history[1] if history else None)
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        elapsed = time.monotonic() - started
        if elapsed >= request.max_seconds:
            result = _skipped(row, f"the time budget of {request.max_seconds:g} s ran out")
        else:
            result = _evaluate(services, request.contract, known, row)
        result["progress"] = {"done": index + 1, "total": len(rows)}
        results.append(result)
        yield result
    yield summarize(request, results, time.monotonic() - started)


def _skipped(row: Row, reason: str) -> dict[str, Any]:
    return {"type": "file", **_file_fields(row), "skipped": reason, "would": None, "differences": []}


def _file_fields(row: Row) -> dict[str, Any]:
    return {
        "ingestion_id": str(row["id"]),
        "filename": row["filename"],
        "sheet": row.get("sheet") or "",
        "actual": {
            "status": row["status"],
            "rows_loaded": row["rows_loaded"],
            "contract_version": row["contract_version"],
        },
    }


def _evaluate(services: Services, contract: Contract, known: TableSchema, row: Row) -> dict[str, Any]:
    started = time.monotonic()
    try:
        would = _would(services, contract, known, row)
    except ReadError as exc:
        would = {"status": Status.FAILED_READ.value, "error": exc.to_dict()}
    except BadData as exc:
        would = {"status": Status.FAILED_QUALITY.value, "error": exc.to_dict()}
    except ContractError as exc:
        would = {"status": Status.FAILED_CONTRACT.value, "error": exc.to_dict()}
    would["seconds"] = round(time.monotonic() - started, 3)
    with services.store.read() as tx:
        actual_quality = tx.ingestions.artifacts(uuid.UUID(str(row["id"]))).get("quality")
    fields = _file_fields(row)
    return {
        "type": "file",
        **fields,
        "skipped": None,
        "would": would,
        "differences": compare(fields["actual"], would, actual_quality),
    }


def _would(services: Services, contract: Contract, known: TableSchema, row: Row) -> dict[str, Any]:
    fmt = detect_format(str(row["filename"]))
    options = dict(row.get("options") or {})
    read_options = ReadOptions(
        sheet=options.get("sheet", contract.sheet),
        batch_rows=services.settings.batch_rows,
        display_name=str(row["filename"]),
        encoding=options.get("encoding"),
        limits=ReadLimits.from_settings(services.settings),
    )
    settler = DriftSettler(known, contract)
    engine = services.settings.gate_engine
    with services.landing.local_path(str(row["raw_key"])) as path:
        source = open_source(path, fmt, read_options)
        header = settler.settle_header(source.columns)
        if header is not None:
            return _drift_outcome(header)
        plan = decide_drift(known, known, contract.drift_policy)
        settled, report, preparer, gate = _pass(source, contract, plan, settler, engine)
        if settled.decision.outcome != "accept":
            return _drift_outcome(settled)
        if not follows_plan(settled.decision, plan):  # read again under the decided plan, as processing does
            _, report, preparer, gate = _pass(source, contract, settled.decision, None, engine)
    assert report is not None and preparer is not None and gate is not None
    passed = report.passed
    held = len(gate.held_rows()) if passed else 0
    status = Status.FAILED_QUALITY if not passed else Status.PARTIALLY_LOADED if held else Status.LOADED
    return {
        "status": status.value,
        "rows_total": preparer.rows_seen,
        "rows_loaded": preparer.rows_seen - preparer.rows_discarded - held if passed else 0,
        "rows_quarantined": held,
        "rows_discarded": preparer.rows_discarded,
        "values_nulled": preparer.values_nulled,
        "drift": _drift_summary(settled),
        "expectations": [_expectation(r) for r in report.to_dict()["results"]],
        "critical_failures": report.critical_failures,
    }


def _pass(
    source: TabularSource,
    contract: Contract,
    decision: DriftDecision,
    settler: DriftSettler | None,
    engine: str = "compiled",
) -> tuple[Settled, QualityReport | None, _BatchPreparer | None, QualityGate | None]:
    """One read of the file: gate every batch under ``decision``; with ``settler``, infer and decide."""
    inferrer = SchemaInferrer.for_format(source.format)
    gate = QualityGate(contract, engine=engine)
    preparer = _BatchPreparer(decision, decision.baseline, gate, DiscardTrace(contract))
    for batch in source.batches():
        inferrer.feed(batch)
        if settler is not None:
            early = settler.settle_rows(inferrer)
            if early is not None:
                return early, None, None, None
        gate.feed(preparer.prepare(batch))
    checker = settler or DriftSettler(decision.baseline, contract)
    return checker.settle(inferrer.result(), inferrer.rows), gate.finish(), preparer, gate


def _drift_outcome(settled: Settled) -> dict[str, Any]:
    status = Status.FAILED_DRIFT if settled.decision.outcome == "reject" else Status.QUARANTINED
    return {
        "status": status.value,
        "rows_total": settled.rows_read if settled.whole_file else None,
        "rows_loaded": 0,
        "drift": _drift_summary(settled),
        "expectations": [],
    }


def _drift_summary(settled: Settled) -> dict[str, Any]:
    decision = settled.decision.to_dict()
    return {
        "outcome": settled.decision.outcome,
        "reason": settled.decision.reason,
        "decided_on": settled.evidence,
        "changes": decision.get("changes", []),
    }


def _expectation(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "expectation_type": result["expectation_type"],
        "kwargs": result["kwargs"],
        "severity": result["severity"],
        "success": result["success"],
        "unexpected_count": result["unexpected_count"],
        "unexpected_percent": result["unexpected_percent"],
        "failing_rows": result["failing_rows"],
        "engine": result.get("engine", "gx"),
    }


def compare(
    actual: dict[str, Any], would: dict[str, Any], actual_quality: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """What the candidate changes for this file, compared with what happened when it was processed."""
    out: list[dict[str, Any]] = []
    if actual["status"] != would["status"]:
        out.append({"kind": "status", "actual": actual["status"], "would": would["status"]})
    if actual["rows_loaded"] is not None and would.get("rows_loaded") is not None:
        if actual["rows_loaded"] != would["rows_loaded"]:
            out.append(
                {"kind": "rows_loaded", "actual": actual["rows_loaded"], "would": would["rows_loaded"]}
            )
    before = {_key(r): r for r in (actual_quality or {}).get("results", []) if "expectation_type" in r}
    for result in would.get("expectations", []):
        key = _key(result)
        old = before.pop(key, None)
        if old is None:
            out.append({"kind": "expectation_new", **_named(key), "would_success": result["success"]})
        elif (
            bool(old["success"]) != bool(result["success"])
            or old["unexpected_count"] != result["unexpected_count"]
        ):
            out.append(
                {
                    "kind": "expectation_changed",
                    **_named(key),
                    "actual": {"success": old["success"], "unexpected_count": old["unexpected_count"]},
                    "would": {"success": result["success"], "unexpected_count": result["unexpected_count"]},
                }
            )
    if would.get("expectations"):
        for key in before:
            out.append({"kind": "expectation_gone", **_named(key)})
    return out


def _key(result: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    return expectation_key({"type": result["expectation_type"], "kwargs": result.get("kwargs") or {}})


def _named(key: tuple[str, tuple[str, ...]]) -> dict[str, Any]:
    return {"expectation_type": key[0], "columns": list(key[1])}


def summarize(request: DryRunRequest, results: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    evaluated = [r for r in results if r["would"] is not None]
    by_status: dict[str, int] = {}
    for result in evaluated:
        by_status[result["would"]["status"]] = by_status.get(result["would"]["status"], 0) + 1
    failing: dict[tuple[str, tuple[str, ...]], int] = {}
    for result in evaluated:
        for item in result["would"].get("expectations", []):
            if not item["success"]:
                key = _key(item)
                failing[key] = failing.get(key, 0) + int(item["unexpected_count"] or 0)
    return {
        "type": "summary",
        "dataset": request.dataset,
        "contract_version": request.contract.version,
        "files": len(results),
        "evaluated": len(evaluated),
        "skipped": len(results) - len(evaluated),
        "would_status": dict(sorted(by_status.items())),
        "rows_would_load": sum(int(r["would"].get("rows_loaded") or 0) for r in evaluated),
        "rows_would_quarantine": sum(int(r["would"].get("rows_quarantined") or 0) for r in evaluated),
        "rows_loaded_actually": sum(int(r["actual"]["rows_loaded"] or 0) for r in evaluated),
        "files_changing_status": sum(
            1 for r in evaluated if any(d["kind"] == "status" for d in r["differences"])
        ),
        "failing_expectations": [
            {**_named(key), "unexpected_count": count} for key, count in sorted(failing.items())
        ],
        "seconds": round(seconds, 3),
        "wrote_nothing": True,
    }

"""``/api/contracts``: read, diff, validate and save each dataset's contract (docs/CONTRACTS.md).

Reading adopts a contract file edited since it was last read (``contracts/registry.py``), so what
these routes show is what the next file will be checked against. Saving is an admin action: the
suite is validated first, its content hash is the version, and the audit log names the token.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request, stream_with_context

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import (
    CONTRACT_MAX_BYTES,
    ContractCheckBody,
    ContractDiffQuery,
    ContractSaveBody,
    ContractVersionPath,
    DatasetPath,
    DryRunBody,
)
from eventpulse.api.present import to_json_value
from eventpulse.api.resources import (
    ContractDetail,
    ContractDiff,
    ContractList,
    ContractSaved,
    ContractValidation,
    ContractVersionBody,
    DryRunReport,
)
from eventpulse.api.roles import ADMIN, OPERATOR, VIEWER
from eventpulse.contracts.diff import diff_suites
from eventpulse.contracts.loader import parse_suite
from eventpulse.contracts.registry import (
    ensure_has_contract,
    known_datasets,
    no_contract,
    resolve_contract,
    save_contract,
    stored_version,
)
from eventpulse.errors import ContractError
from eventpulse.pipeline.dry_run import DryRunRequest, choose_files, dry_run
from eventpulse.schema.naming import ensure_dataset_name

bp = Operations("contracts", __name__, url_prefix="/api")
NDJSON = "application/x-ndjson"


@bp.operation("GET", "/contracts", access=VIEWER, returns={200: ContractList})
def list_contracts() -> Response:
    """Every dataset's current contract version; a contract file that does not validate shows its error."""
    services = current_services()
    items = [_summary(dataset) for dataset in known_datasets(services)]
    return jsonify({"items": items, "total": len(items)})


def _summary(dataset: str) -> dict[str, Any]:
    services = current_services()
    try:
        resolve_contract(services, dataset)
    except ContractError as exc:
        return {"dataset": dataset, "version": None, "error": exc.to_dict()}
    with services.store.read() as tx:
        record = tx.contracts.current(dataset)
    if record is None:  # removed between the two reads: report it as missing
        return {"dataset": dataset, "version": None, "error": no_contract(services, dataset).to_dict()}
    return {
        "dataset": dataset,
        "version": record.version,
        "source": record.source,
        "adopted_by": record.adopted_by,
        "adopted_at": record.adopted_at,
    }


@bp.operation(
    "GET", "/contracts/<dataset>", access=VIEWER, returns={200: ContractDetail}, errors=(400, 404, 422)
)
def get_contract(path: DatasetPath) -> Response:
    """The dataset's current contract (the suite) and its version history, newest first."""
    services = current_services()
    dataset = _known(path.dataset)
    resolve_contract(services, dataset)  # 422 naming the key when the file is broken
    with services.store.read() as tx:
        record = tx.contracts.current(dataset)
        history = tx.contracts.history(dataset)
    if record is None:
        raise no_contract(services, dataset)
    return jsonify(
        {
            "dataset": dataset,
            "version": record.version,
            "source": record.source,
            "adopted_by": record.adopted_by,
            "adopted_at": record.adopted_at,
            "suite": record.body,
            "history": history,
        }
    )


@bp.operation(
    "GET",
    "/contracts/<dataset>/versions/<version>",
    access=VIEWER,
    returns={200: ContractVersionBody},
    errors=(400, 404),
)
def get_contract_version(path: ContractVersionPath) -> Response:
    """One stored version of the dataset's contract, current or not."""
    dataset = ensure_dataset_name(path.dataset)
    with current_services().store.read() as tx:
        row = stored_version(tx, dataset, path.version.lower())
    return jsonify(
        {
            "dataset": dataset,
            "version": row["version"],
            "suite": row["body"],
            "first_seen_at": row["first_seen_at"],
        }
    )


@bp.operation(
    "GET", "/contracts/<dataset>/diff", access=VIEWER, returns={200: ContractDiff}, errors=(400, 404, 422)
)
def diff_contract(path: DatasetPath, query: ContractDiffQuery) -> Response:
    """What changed between two versions (default: the current one and the one adopted before it)."""
    services = current_services()
    dataset = _known(path.dataset)
    resolve_contract(services, dataset)
    with services.store.read() as tx:
        history = [str(r["version"]) for r in tx.contracts.history(dataset)]
        to = query.to.lower() if query.to else (history[0] if history else None)
        if to is None:
            raise no_contract(services, dataset)
        after = stored_version(tx, dataset, to)["body"]
        older = query.from_.lower() if query.from_ else _adopted_before(history, to)
        before = stored_version(tx, dataset, older)["body"] if older else None
    return jsonify({"dataset": dataset, "from": older, "to": to, "changes": diff_suites(before, after)})


def _adopted_before(history: list[str], version: str) -> str | None:
    """The version adopted before ``version`` last became current (history is newest first)."""
    if version not in history:
        return None
    return next((v for v in history[history.index(version) + 1 :] if v != version), None)


@bp.operation(
    "POST",
    "/contracts/<dataset>/validate",
    access=VIEWER,
    returns={200: ContractValidation},
    errors=(400,),
    body=ContractCheckBody,
    body_max_bytes=CONTRACT_MAX_BYTES,
)
def validate_contract(path: DatasetPath, body: ContractCheckBody) -> Response:
    """Check a candidate suite without saving it: valid or not, and what it would change.

    An invalid suite answers 200 with `valid: false` and an `error` whose `details.key` names the
    offending expectation or key (`expectations[3].kwargs.column`, `meta.eventpulse.primary_key`, ...).
    """
    dataset = ensure_dataset_name(path.dataset)
    current = _current_body(dataset)
    try:
        contract = parse_suite(dataset, body.suite)
    except ContractError as exc:
        return jsonify(
            {
                "dataset": dataset,
                "valid": False,
                "version": None,
                "current_version": current[0] if current else None,
                "changes": [],
                "error": exc.to_dict(),
            }
        )
    return jsonify(
        {
            "dataset": dataset,
            "valid": True,
            "version": contract.version,
            "current_version": current[0] if current else None,
            "changes": diff_suites(current[1] if current else None, contract.suite),
        }
    )


@bp.operation(
    "PUT",
    "/contracts/<dataset>",
    access=ADMIN,
    returns={200: ContractSaved, 201: ContractSaved},
    errors=(400, 409, 422),
    body=ContractSaveBody,
    body_max_bytes=CONTRACT_MAX_BYTES,
)
def put_contract(path: DatasetPath, body: ContractSaveBody) -> tuple[Response, int]:
    """Validate the suite and make it the dataset's current contract (201 for a dataset's first one).

    Send the version you edited as `base_version`: when someone changed the contract since, the save
    is refused with 409 and the current version, so no change is overwritten unseen. An invalid suite
    is refused with 422 naming the offending key. Files already ingested are not re-checked; replay
    them to apply the new contract.
    """
    dataset = ensure_dataset_name(path.dataset)
    saved = save_contract(
        current_services(),
        dataset,
        body.suite,
        base_version=body.base_version.lower() if body.base_version else None,
        actor=current_actor(),
        note=body.note,
    )
    previous = saved.previous.body if saved.previous is not None else None
    result = {
        "dataset": dataset,
        "version": saved.record.version,
        "previous_version": saved.previous_version,
        "changed": saved.changed,
        "changes": diff_suites(previous, saved.contract.suite) if saved.changed else [],
    }
    return jsonify(result), 201 if saved.previous_version is None else 200


@bp.operation(
    "POST",
    "/contracts/<dataset>/dry_run",
    access=OPERATOR,
    returns={200: DryRunReport},
    errors=(404, 422),
    body=DryRunBody,
    body_max_bytes=CONTRACT_MAX_BYTES,
)
def dry_run_contract(path: DatasetPath, body: DryRunBody) -> Response:
    """Run a candidate contract against files the dataset received, writing nothing.

    Each file is read again from the raw landing and taken through drift and the gate under the
    candidate; the answer says, per file and in total, the state it would end in, the drift decision,
    each expectation's failing counts and rows, the rows that would load, and how that differs from
    what happened. With `Accept: application/x-ndjson` each file's result is streamed as one line as
    soon as it is known (progress), then the summary line.
    """
    services = current_services()
    dataset = _known(path.dataset)
    contract = (
        parse_suite(dataset, body.suite) if body.suite is not None else resolve_contract(services, dataset)
    )
    run = DryRunRequest(
        dataset=dataset,
        contract=contract,
        last=body.last,
        ingestion_ids=tuple(body.ingestion_ids),
        max_seconds=body.max_seconds,
    )
    files = choose_files(services, run)  # 404 for a chosen id of another dataset, before streaming
    if request.accept_mimetypes.best_match(["application/json", NDJSON]) == NDJSON:
        lines = (json.dumps(item, default=to_json_value) + "\n" for item in dry_run(services, run, files))
        return Response(stream_with_context(lines), mimetype=NDJSON)
    items = list(dry_run(services, run, files))
    return jsonify({"items": items[:-1], "summary": items[-1]})


def _known(name: str) -> str:
    dataset = ensure_dataset_name(name)
    ensure_has_contract(current_services(), dataset)
    return dataset


def _current_body(dataset: str) -> tuple[str, dict[str, Any]] | None:
    """The current version and suite, after adopting an edited file; None without a valid contract."""
    try:
        contract = resolve_contract(current_services(), dataset)
    except ContractError:
        return None
    return contract.version, dict(contract.suite)

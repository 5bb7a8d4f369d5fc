"""Write API: streamed uploads, internal registration of incoming files, and replay."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, cast

from flask import Response, jsonify, request

from eventpulse.api.auth import current_actor
from eventpulse.api.context import PRECHECK_ENVIRON, current_backlog, current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import FromPathBody, IngestionPath, UploadQuery
from eventpulse.api.present import present_ingestion
from eventpulse.api.resources import Ingestion, Registered, RegisteredFromPath
from eventpulse.api.roles import OPERATOR, TASK
from eventpulse.contracts.model import Contract
from eventpulse.errors import BadRequest, NotFound, PayloadTooLarge
from eventpulse.landing.backpressure import decide_shed
from eventpulse.landing.duplicate import describe_duplicate
from eventpulse.landing.intake import build_read_options
from eventpulse.landing.register import Registration, register_stream, replay
from eventpulse.landing.watcher import dataset_for, register_incoming
from eventpulse.pipeline.intent import StreamHeaderCheck
from eventpulse.ports import Row, Services

log = logging.getLogger(__name__)

bp = Operations("ingest", __name__, url_prefix="/api")

REGISTERED = {202: Registered, 200: Registered}


@bp.operation(
    "POST",
    "/ingest/upload",
    access=OPERATOR,
    returns=REGISTERED,
    errors=(400, 404, 413, 415, 422, 429, 507),
    binary_body=True,
)
def upload(query: UploadQuery) -> tuple[Response, int]:
    """Stream the file's exact bytes into the raw landing zone and queue it (never buffered whole).

    202 when the bytes are new for the dataset; 200 with `deduplicated: true` and `duplicate` (the
    existing ingestion's state and what to do next) when they were already registered.
    """
    services = current_services()
    options = build_read_options(sheet=query.sheet, encoding=query.encoding)
    body, status = accept_upload(
        services,
        dataset=query.dataset,
        filename=query.filename,
        source=query.source or "api",
        actor=current_actor(),
        options=options,
        fail_fast=query.fail_fast,
    )
    return jsonify(body), status


def accept_upload(
    services: Services,
    *,
    dataset: str,
    filename: str,
    source: str,
    actor: str,
    options: dict[str, Any] | None = None,
    fail_fast: bool = False,
) -> tuple[dict[str, Any], int]:
    """Stream this request's body into the landing zone and register it: the answer and its status.

    Shared by every upload route (``/api/ingest/upload``, ``/api/edge/ingest/upload``), so the size
    limit, the fail-fast header check and the deduplicated answer stay one behaviour.
    """
    ensure_intake_open(services, source)  # before one byte of the body is read
    limit = services.settings.upload_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"the upload is {request.content_length} bytes; the limit is {limit}",
            hint="split the file, or raise EVENTPULSE_UPLOAD_MAX_BYTES",
            details={"limit_bytes": limit},
        )
    options = options or {}
    check = (
        StreamHeaderCheck(services, filename, declared_encoding=options.get("encoding"))
        if fail_fast
        else None
    )
    early = bool(request.environ.get(PRECHECK_ENVIRON))
    if early and check is None:  # an early call that has nothing to check: never land its prefix
        return {}, 204
    try:
        registration = register_stream(
            services,
            dataset=dataset,
            filename=filename,
            source=source,
            stream=cast(BinaryIO, request.stream),
            actor=actor,
            options=options or None,
            max_bytes=limit,
            before_landing=_stop_after(check) if early and check is not None else check,
        )
    except HeaderAccepted:
        # The server's early call on the body's first line (api/server.py): the header passed and
        # nothing was landed; the server now reads the rest of the body and calls the route again.
        return {}, 204
    body, status = registration_body(services, registration)
    if check is not None and check.result is not None:
        body["header_check"] = check.result.to_dict()
    return body, status


class HeaderAccepted(Exception):
    """The early fail_fast check passed: stop before landing (not an error)."""


def _stop_after(check: StreamHeaderCheck) -> Callable[[Contract, BinaryIO], BinaryIO]:
    def checked(contract: Contract, stream: BinaryIO) -> BinaryIO:
        check(contract, stream)  # a refusal raises here, as on the whole request
        raise HeaderAccepted

    return checked


@bp.operation(
    "POST",
    "/ingest/from_path",
    access=TASK,
    returns={202: RegisteredFromPath, 200: RegisteredFromPath},
    errors=(400, 404, 415, 422, 429),
    body=FromPathBody,
)
def from_path(body: FromPathBody) -> tuple[Response, int]:
    """Register a file already under `incoming/` (local stand-in for a storage event); archive it."""
    services = current_services()
    incoming = services.settings.incoming_dir.resolve()
    path, relative = _resolve_incoming(incoming, body.path)
    dataset = body.dataset or dataset_for(relative)
    if not isinstance(dataset, str):
        raise BadRequest(
            f"no dataset for {relative!r}",
            hint='pass "dataset", put the file in incoming/<dataset>/, or name it <dataset>__name.ext',
        )
    source = body.source or "from_path"
    ensure_intake_open(services, source)
    handled = register_incoming(services, path, dataset=dataset, source=source, actor=current_actor())
    answer, status = registration_body(services, handled.registration)
    answer["archived_to"] = handled.archived_to.relative_to(services.settings.archive_dir).as_posix()
    return jsonify(answer), status


@bp.operation(
    "POST", "/ingestions/<ingestion_id>/replay", access=OPERATOR, returns={202: Ingestion}, errors=(400, 404)
)
def replay_ingestion(path: IngestionPath) -> tuple[Response, int]:
    """Process the raw bytes of an ingestion again, as a new ingestion (the original is left as it was)."""
    services = current_services()
    row = replay(services, path.ingestion_id, actor=current_actor())
    return jsonify(present_ingestion(_reload(services, row["id"]) or row)), 202


def ensure_intake_open(services: Services, source: str) -> None:
    """Refuse a new file with 429 + Retry-After while the queue backlog is over its limits.

    Every intake route calls this before it lands or registers anything (docs/RELIABILITY.md).
    """
    refusal = decide_shed(current_backlog(), source, services.settings)
    if refusal is not None:
        log.warning("intake refused a file from %s: %s", source[:200], refusal.message)
        raise refusal


def registration_body(services: Services, registration: Registration) -> tuple[dict[str, Any], int]:
    """The ingestion plus ``deduplicated`` (and ``duplicate``); 202 when new, 200 when already known."""
    row = registration.ingestion
    if services.settings.queue == "inline":  # this process may already have processed it
        row = _reload(services, row["id"]) or row
    body = {**present_ingestion(row), "deduplicated": registration.deduplicated}
    if registration.deduplicated:
        body["duplicate"] = describe_duplicate(row)
    return body, 200 if registration.deduplicated else 202


def _reload(services: Services, ingestion_id: uuid.UUID) -> Row | None:
    # The inline queue may already have processed it: answer with the current state.
    with services.store.read() as tx:
        return tx.ingestions.get(ingestion_id)


def _resolve_incoming(incoming: Path, raw: str) -> tuple[Path, str]:
    """An existing file strictly inside ``incoming``; absolute paths and traversal are refused."""
    if not raw.strip() or "\x00" in raw:
        raise BadRequest("path must be a non-empty string", hint="a path relative to the incoming folder")
    if PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).is_absolute() or raw.startswith("\\"):
        raise BadRequest(f"path {raw!r} is absolute", hint="pass a path relative to the incoming folder")
    try:
        path = (incoming / raw).resolve()
        is_file = path.is_relative_to(incoming) and path != incoming and path.is_file()
    except OSError as exc:  # e.g. a name longer than the filesystem allows
        raise BadRequest(f"path {raw[:200]!r} cannot be used: {exc.strerror}") from None
    if not path.is_relative_to(incoming) or path == incoming:
        raise BadRequest(f"path {raw!r} leaves the incoming folder", hint="pass a path inside incoming/")
    if not is_file:
        raise NotFound(f"no file {raw!r} in the incoming folder")
    return path, path.relative_to(incoming).as_posix()

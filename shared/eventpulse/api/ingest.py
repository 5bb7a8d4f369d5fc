"""Write API: streamed uploads, internal registration of incoming files, and replay."""

from __future__ import annotations

import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, cast

from flask import Blueprint, Response, jsonify, request

from eventpulse.api.auth import current_actor, internal
from eventpulse.api.context import current_services
from eventpulse.api.params import parse_uuid
from eventpulse.api.present import present_ingestion
from eventpulse.errors import BadRequest, NotFound, PayloadTooLarge
from eventpulse.landing.intake import build_read_options
from eventpulse.landing.register import Registration, register_stream, replay
from eventpulse.landing.watcher import dataset_for, register_incoming
from eventpulse.ports import Row, Services

bp = Blueprint("ingest", __name__, url_prefix="/api")

JSON_BODY_MAX_BYTES = 64 * 1024


@bp.post("/ingest/upload")
def upload() -> tuple[Response, int]:
    """Stream the request body into the raw landing zone; never buffers the whole file."""
    services = current_services()
    limit = services.settings.upload_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"the upload is {request.content_length} bytes; the limit is {limit}",
            hint="split the file, or raise EVENTPULSE_UPLOAD_MAX_BYTES",
            details={"limit_bytes": limit},
        )
    options = build_read_options(sheet=request.args.get("sheet"), encoding=request.args.get("encoding"))
    registration = register_stream(
        services,
        dataset=request.args.get("dataset", ""),
        filename=request.args.get("filename", ""),
        source=request.args.get("source") or "api",
        stream=cast(BinaryIO, request.stream),
        actor=current_actor(),
        options=options or None,
        max_bytes=limit,
    )
    body, status = _registration_body(services, registration)
    return jsonify(body), status


@bp.post("/ingest/from_path")
@internal
def from_path() -> tuple[Response, int]:
    """Register a file already under ``incoming/`` (local stand-in for a storage event); archive it."""
    services = current_services()
    body = _json_object()
    incoming = services.settings.incoming_dir.resolve()
    path, relative = _resolve_incoming(incoming, body.get("path"))
    dataset = body.get("dataset") or dataset_for(relative)
    if not isinstance(dataset, str):
        raise BadRequest(
            f"no dataset for {relative!r}",
            hint='pass "dataset", put the file in incoming/<dataset>/, or name it <dataset>__name.ext',
        )
    source = body.get("source") or "from_path"
    if not isinstance(source, str):
        raise BadRequest("source must be a string")
    handled = register_incoming(services, path, dataset=dataset, source=source, actor=current_actor())
    body, status = _registration_body(services, handled.registration)
    body["archived_to"] = handled.archived_to.relative_to(services.settings.archive_dir).as_posix()
    return jsonify(body), status


@bp.post("/ingestions/<ingestion_id>/replay")
def replay_ingestion(ingestion_id: str) -> tuple[Response, int]:
    services = current_services()
    row = replay(services, parse_uuid(ingestion_id), actor=current_actor())
    return jsonify(present_ingestion(_reload(services, row["id"]) or row)), 202


def _registration_body(services: Services, registration: Registration) -> tuple[dict[str, Any], int]:
    """The ingestion JSON plus ``deduplicated``; 202 when new, 200 when the bytes were already known."""
    row = _reload(services, registration.ingestion["id"]) or registration.ingestion
    body = {**present_ingestion(row), "deduplicated": registration.deduplicated}
    return body, 200 if registration.deduplicated else 202


def _reload(services: Services, ingestion_id: uuid.UUID) -> Row | None:
    # The inline queue may already have processed it: answer with the current state.
    with services.store.read() as tx:
        return tx.ingestions.get(ingestion_id)


def _json_object() -> dict[str, Any]:
    request.max_content_length = JSON_BODY_MAX_BYTES
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(
            "the body must be a JSON object",
            hint='send Content-Type: application/json and {"path": "<dataset>/<file>"}',
        )
    return body


def _resolve_incoming(incoming: Path, raw: object) -> tuple[Path, str]:
    """An existing file strictly inside ``incoming``; absolute paths and traversal are refused."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise BadRequest("path must be a non-empty string", hint="a path relative to the incoming folder")
    if PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).is_absolute() or raw.startswith("\\"):
        raise BadRequest(f"path {raw!r} is absolute", hint="pass a path relative to the incoming folder")
    path = (incoming / raw).resolve()
    if not path.is_relative_to(incoming) or path == incoming:
        raise BadRequest(f"path {raw!r} leaves the incoming folder", hint="pass a path inside incoming/")
    if not path.is_file():
        raise NotFound(f"no file {raw!r} in the incoming folder")
    return path, path.relative_to(incoming).as_posix()

"""Routes an enrolled edge device calls (issue 8): who am I, I am alive, my batches, my commands.

Every route here takes a device credential only (``DEVICE``); ``api/auth.py`` proves it, refuses a
revoked device and records the device as heard before the view runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime

from flask import Response, current_app, jsonify, request

from eventpulse.api.auth import calling_device, current_actor, current_principal, is_token_accepted
from eventpulse.api.context import current_services
from eventpulse.api.errors import build_envelope
from eventpulse.api.ingest import accept_upload
from eventpulse.api.operations import Operations
from eventpulse.api.params import (
    ACK_BODY_MAX_BYTES,
    CommandAckBody,
    CommandPath,
    EdgeCommandsQuery,
    EdgeUploadQuery,
    EnrollBody,
    HeartbeatBody,
)
from eventpulse.api.resources import (
    EdgeCommandAcked,
    EdgeCommands,
    EdgeEnrolled,
    EdgeHeartbeat,
    EdgePing,
    EdgeRegistered,
)
from eventpulse.api.roles import DEVICE, PUBLIC
from eventpulse.devices.binding import device_source
from eventpulse.devices.commands import ACKABLE, ack_status, is_final
from eventpulse.devices.enrollment import decide_enrollment
from eventpulse.devices.present import present_device
from eventpulse.devices.tokens import (
    DEVICE_ID_RULE,
    fingerprint_hash,
    is_valid_device_id,
    new_device_token,
    token_hash,
)
from eventpulse.errors import (
    BadRequest,
    Conflict,
    DatasetNotAllowed,
    Forbidden,
    NotConfigured,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from eventpulse.landing.intake import clean_filename
from eventpulse.landing.keys import extension_of
from eventpulse.ports.devices import Command, Device, DeviceRegistry, Health
from eventpulse.settings import Settings

bp = Operations("edge", __name__, url_prefix="/api/edge")


@bp.operation("GET", "/ping", access=DEVICE, returns={200: EdgePing})
def ping() -> Response:
    """A device's cheapest check that its credential works (and a last-seen update)."""
    principal = current_principal()
    return jsonify({"device_id": principal.device_id if principal else None})


@bp.operation("POST", "/heartbeat", access=DEVICE, returns={200: EdgeHeartbeat}, body=HeartbeatBody)
def heartbeat(body: HeartbeatBody) -> Response:
    """Record the device's own health report (battery, signal, versions, backlog) as last heard."""
    principal = current_principal()
    device_id = principal.device_id if principal else None
    now = current_services().clock.now()
    if device_id is not None:
        health = Health(**body.model_dump(), reported_at=now)
        current_services().devices.touch(device_id, at=now, health=health)
    return jsonify({"device_id": device_id, "online": device_id is not None, "reported_at": now.isoformat()})


EDGE_EXTENSIONS = (".csv", ".ndjson", ".jsonl")
"""What a device batch may be: the agent writes CSV or NDJSON, and no device needs XLSX or Parquet."""


@bp.operation(
    "POST",
    "/ingest/upload",
    access=DEVICE,
    returns={202: EdgeRegistered, 200: EdgeRegistered},
    errors=(400, 401, 403, 404, 413, 415, 422, 429, 503, 507),
    binary_body=True,
)
def upload(query: EdgeUploadQuery) -> tuple[Response, int]:
    """Stream a device's batch (CSV or NDJSON) into the landing zone as that device's ingestion.

    The same intake as ``/api/ingest/upload`` (size limit, deduplication: 200 with the existing
    ingestion for bytes already registered; ``ingestion_id`` repeats ``id``); the source is
    ``device:<id>``, so the pipeline binds the rows to the caller, and only datasets allowed for
    the device are accepted.
    """
    device = calling_device()
    filename = clean_filename(query.filename)
    ext = extension_of(filename)
    if ext not in EDGE_EXTENSIONS:
        raise UnsupportedMediaType(
            f"file {filename!r} has extension {ext or '(none)'!r}, which a device may not send",
            hint=f"accepted extensions on edge uploads: {', '.join(EDGE_EXTENSIONS)}",
        )
    ensure_dataset_allowed(device, query.dataset)
    body, status = accept_upload(
        current_services(),
        dataset=query.dataset,
        filename=filename,
        source=device_source(device.device_id),
        actor=current_actor(),
    )
    body["ingestion_id"] = body["id"]
    return jsonify(body), status


def ensure_dataset_allowed(device: Device, dataset: str) -> None:
    """Refuse a dataset the device may not send: its own list from the registry when it has one,
    else the fleet setting (every way a device sends data checks this, and only this)."""
    allowed = tuple(device.datasets) or tuple(current_services().settings.edge_datasets)
    if dataset not in allowed:
        raise DatasetNotAllowed(
            f"device {device.device_id} may not send dataset {dataset[:200]!r}",
            hint=f"datasets allowed for this device: {', '.join(allowed) or '(none)'}; an admin sets "
            "them on the device, or fleet-wide with EVENTPULSE_EDGE_DATASETS",
            details={
                "device_id": device.device_id,
                "dataset": dataset[:200],
                "allowed_datasets": list(allowed),
            },
        )


@bp.operation("GET", "/commands", access=DEVICE, returns={200: EdgeCommands}, errors=(400, 401, 403, 503))
def commands(query: EdgeCommandsQuery) -> Response:
    """Hand the caller its commands to run, oldest first; expired ones are expired, not handed out.

    A delivered command that was not acknowledged is handed out again (the device may have crashed
    mid-command), so each hand-out is audited (``device.command_delivered``, with ``redelivered``).
    ``rotate_token`` carries no secret: the agent rotates by re-enrolling (``POST /api/edge/enroll``
    with its fingerprint), so a new token never travels in a command that can be handed out twice.
    """
    device = calling_device()
    services = current_services()
    now = services.clock.now()
    services.devices.expire_commands(now=now)
    handed = services.devices.deliver_commands(device.device_id, now=now, limit=query.limit)
    if handed:
        with services.store.transaction() as tx:
            for command in handed:
                tx.audit.record(
                    actor=current_actor(),
                    action="device.command_delivered",
                    entity_type="command",
                    entity_id=command.command_id,
                    details={
                        "device_id": device.device_id,
                        "kind": command.kind,
                        "redelivered": command.delivered_at is not None and command.delivered_at < now,
                    },
                )
    return jsonify({"items": [_delivered(command) for command in handed]})


def _delivered(command: Command) -> dict[str, object]:
    return {
        "command_id": command.command_id,
        "kind": command.kind,
        "params": dict(command.params),
        "issued_at": command.created_at.isoformat(),
        "expires_at": command.expires_at.isoformat(),
    }


@bp.operation(
    "POST",
    "/commands/<command_id>/ack",
    access=DEVICE,
    returns={200: EdgeCommandAcked},
    errors=(400, 401, 403, 404, 409, 413, 503),
    body=CommandAckBody,
    body_max_bytes=ACK_BODY_MAX_BYTES,
)
def ack_command(path: CommandPath, body: CommandAckBody) -> Response:
    """Record how a command ended on the device: ``succeeded`` or ``failed``, once.

    404 for an unknown id and for another device's command alike (its existence is not revealed);
    409 when the command is already final or expired. The ack of ``rotate_token`` is sent with the
    new token and carries nothing secret; an ``ok`` that is not backed by a token rotated since the
    delivery is recorded as failed.
    """
    device = calling_device()
    services = current_services()
    registry = services.devices
    now = services.clock.now()
    command = registry.get_command(path.command_id)
    if command is None or command.device_id != device.device_id:
        raise NotFound(
            f"no command {path.command_id!r} for device {device.device_id}",
            hint="acknowledge a command_id from GET /api/edge/commands",
        )
    _ensure_ackable(registry, command, now=now)
    ok, result = _ack_result(device, command, body)
    finished = registry.finish_command(
        command.command_id, expected=ACKABLE, status=ack_status(ok), at=now, result=result
    )
    if finished is None:
        raise Conflict(f"command {command.command_id} changed while acknowledging", hint="fetch it again")
    with services.store.transaction() as tx:
        tx.audit.record(
            actor=current_actor(),
            action="device.command_acked",
            entity_type="command",
            entity_id=command.command_id,
            details={"device_id": device.device_id, "kind": command.kind, "status": finished.status},
        )
    finished_at = finished.finished_at or now
    return jsonify(
        {"command_id": finished.command_id, "status": finished.status, "finished_at": finished_at.isoformat()}
    )


def _ensure_ackable(registry: DeviceRegistry, command: Command, *, now: datetime) -> None:
    """409 for a final command; one past its expiry is expired now (no sweep may have run yet)."""
    status = command.status
    if not is_final(status) and command.expires_at <= now:
        reason = {"reason": "acknowledged after it expired"}
        registry.finish_command(command.command_id, expected=ACKABLE, status="expired", at=now, result=reason)
        current = registry.get_command(command.command_id)
        status = current.status if current is not None else "expired"
    if is_final(status):
        raise Conflict(
            f"command {command.command_id} is already {status}",
            hint="nothing to do: a command is acknowledged once, and an expired one is not run",
            details={"status": status},
        )


def _ack_result(device: Device, command: Command, body: CommandAckBody) -> tuple[bool, dict[str, object]]:
    """The outcome to record; a ``rotate_token`` success must show as a rotation after delivery."""
    result: dict[str, object] = {"ok": body.ok, "output": body.output, "error": body.error}
    if command.kind == "rotate_token" and body.ok:
        since = command.delivered_at or command.created_at
        if device.token_rotated_at < since:
            result["error"] = "the device reported success, but its token was not rotated since delivery"
            return False, result
    return body.ok, result


class SlidingWindow:
    """At most ``limit`` events per key in any 60 s. Per process: N workers allow N times the rate."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, *, limit: int, now: float) -> int:
        """0 and count the hit when allowed; else the seconds until the oldest hit leaves the window."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, int(hits[0] + 60 - now) + 1)
            hits.append(now)
            return 0


ENROLL_WINDOW = SlidingWindow()


def _audit_enroll(action: str, device_id: str, details: dict[str, object]) -> None:
    """Record an enrolment outcome; never the enroll token, the device token or the fingerprint."""
    with current_services().store.transaction() as tx:
        tx.audit.record(
            actor="enroll", action=action, entity_type="device", entity_id=device_id, details=details
        )


def _refuse(reason: str, device_id: str, error: Exception) -> Exception:
    _audit_enroll("device.enroll_refused", device_id, {"reason": reason, "client": request.remote_addr})
    return error


@bp.operation(
    "POST",
    "/enroll",
    access=PUBLIC,
    returns={201: EdgeEnrolled, 200: EdgeEnrolled},
    errors=(401, 403, 409, 429, 503),
    body=EnrollBody,
)
def enroll(body: EnrollBody) -> Response | tuple[Response, int]:
    """Self-enrolment with the fleet enroll token: a device id gets (or rotates) its device token."""
    settings: Settings = current_app.config["EVENTPULSE_SETTINGS"]
    wait = ENROLL_WINDOW.retry_after(
        request.remote_addr or "?", limit=settings.enroll_rate_per_minute, now=time.monotonic()
    )
    if wait:
        _audit_enroll("device.enroll_refused", body.device_id[:63], {"reason": "rate_limited"})
        response = build_envelope(
            429,
            "rate_limited",
            "too many enrolment attempts from this address",
            hint=f"retry after {wait} s (limit EVENTPULSE_ENROLL_RATE_PER_MINUTE per process)",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    pepper = settings.device_token_pepper
    if not settings.edge_enroll_token_sha256 or not pepper:
        raise NotConfigured(
            "device enrolment is not configured on this server",
            hint="set EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256 and EVENTPULSE_DEVICE_TOKEN_PEPPER",
        )
    device_id = body.device_id
    if not is_token_accepted(request.headers.get("X-Device-Enroll-Token"), settings.edge_enroll_token_sha256):
        raise _refuse(
            "bad_enroll_token",
            device_id,
            Unauthorized(
                "a valid X-Device-Enroll-Token header is required",
                hint="send the fleet enroll token whose sha256 is in EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256",
            ),
        )
    if not is_valid_device_id(device_id):
        raise _refuse(
            "bad_device_id",
            device_id[:63],
            BadRequest("device_id is not valid", hint=DEVICE_ID_RULE),
        )
    return _enroll(settings, pepper, body)


def _enroll(settings: Settings, pepper: str, body: EnrollBody) -> tuple[Response, int]:
    registry = current_services().devices
    device_id = body.device_id
    presented = fingerprint_hash(pepper, body.enroll_fingerprint)
    existing = registry.get(device_id)
    decision = decide_enrollment(existing, presented)
    if decision.outcome == "revoked":
        raise _refuse(
            "revoked",
            device_id,
            Forbidden(
                "device revoked", hint="an admin revoked this device id; ask an admin to delete it first"
            ),
        )
    if decision.outcome == "fingerprint_mismatch":
        raise _refuse(
            "fingerprint_mismatch",
            device_id,
            Conflict(
                f"device {device_id} is enrolled with another fingerprint",
                hint="choose another device_id, or ask an admin to delete the old device",
            ),
        )
    token = new_device_token()
    now = datetime.now(UTC)
    created = decision.outcome == "create"
    if created:
        stored = registry.create(
            Device(
                device_id=device_id,
                status="active",
                created_at=now,
                created_by="enroll",
                token_hash=token_hash(pepper, token),
                token_rotated_at=now,
                fingerprint_hash=presented,
                label=body.label,
            )
        )
    else:
        bind = presented if decision.outcome == "bind" else None
        stored = registry.set_token(
            device_id, token_hash=token_hash(pepper, token), rotated_at=now, fingerprint_hash=bind
        )
    if not stored:
        raise _refuse(
            "race",
            device_id,
            Conflict(f"device {device_id} changed while enrolling", hint="retry the enrolment"),
        )
    _audit_enroll("device.enrolled", device_id, {"outcome": decision.outcome})
    device = registry.get(device_id)
    if device is None:
        raise _refuse("race", device_id, Conflict(f"device {device_id} was deleted while enrolling"))
    shown = present_device(device, now=now, offline_after_seconds=settings.device_offline_after_seconds)
    return jsonify({"device": shown, "device_token": token, "created": created}), 201 if created else 200

"""``/api/devices/...``: the command channel, thresholds and alerts, as an admin drives them (issue 8).

Split from ``api/devices.py`` (same blueprint rules: viewer reads, admin writes, every write audited
with the token's name). Commands are checked by ``devices/commands.py`` before they are queued; the
device fetches them from ``GET /api/edge/commands``. Alerts are raised by the evaluation in
``devices/alerts.py``; here they are only listed and acknowledged.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.devices import audit, ensure_device, settings_now
from eventpulse.api.operations import Operations
from eventpulse.api.params import (
    AdminCommandPath,
    AlertListQuery,
    AlertPath,
    CommandBody,
    CommandListQuery,
    DeviceCommandQuery,
    DevicePath,
    GroupCommandBody,
    ThresholdItem,
    ThresholdsBody,
)
from eventpulse.api.resources import (
    AlertList,
    AlertOut,
    CommandList,
    CommandOut,
    GroupCommandQueued,
    ThresholdSet,
)
from eventpulse.api.roles import ADMIN, VIEWER
from eventpulse.devices.commands import CANCELLABLE, CommandError, expiry, validate_command
from eventpulse.devices.present import present_alert, present_command
from eventpulse.errors import BadRequest, Conflict, NotFound
from eventpulse.ports.devices import (
    AlertFilter,
    Command,
    CommandFilter,
    Device,
    DeviceFilter,
    DevicePage,
    Threshold,
)

bp = Operations("device_ops", __name__, url_prefix="/api/devices")

GROUP_PAGE = 500
COMMAND_HINT = (
    "kinds: restart_agent, set_sampling_interval {seconds}, rotate_token, upload_logs {lines}, "
    "update_agent {version}"
)


def _paged(fetch: Any, **kwargs: Any) -> DevicePage[Any]:
    """Call a registry list; a cursor the adapter did not make is the caller's 400."""
    try:
        page: DevicePage[Any] = fetch(**kwargs)
    except ValueError as exc:
        raise BadRequest(str(exc), hint="pass next_cursor of the previous page, or no cursor") from None
    return page


def _build_command(device_id: str, body: CommandBody, now: datetime, *, group: str = "") -> Command:
    try:
        params = validate_command(body.kind, body.params)
        ttl = settings_now().command_ttl_seconds if body.ttl_seconds is None else body.ttl_seconds
        expires_at = expiry(now, ttl)
    except CommandError as exc:
        raise BadRequest(str(exc), hint=COMMAND_HINT) from None
    return Command(
        command_id=str(uuid.uuid4()),
        device_id=device_id,
        kind=body.kind,  # type: ignore[arg-type]  # validate_command checked it is a CommandKind
        params=params,
        status="queued",
        created_by=current_actor(),
        created_at=now,
        expires_at=expires_at,
        group=group,
    )


def _audit_command(command: Command) -> None:
    audit(
        "device.command_queued",
        command.device_id,
        {"command_id": command.command_id, "kind": command.kind, "group": command.group},
    )


@bp.operation(
    "POST",
    "/<device_id>/commands",
    access=ADMIN,
    returns={201: CommandOut},
    errors=(400, 404, 409),
    body=CommandBody,
)
def queue_command(path: DevicePath, body: CommandBody) -> tuple[Response, int]:
    """Queue one command for the device; it receives it on its next contact."""
    device = ensure_device(path.device_id)
    if device.status == "revoked":
        raise Conflict(f"device {device.device_id} is revoked", hint="un-revoke it first")
    command = _build_command(device.device_id, body, datetime.now(UTC))
    current_services().devices.queue_command(command)
    _audit_command(command)
    return jsonify(present_command(command)), 201


def _group_devices(group: str) -> list[Device]:
    devices: list[Device] = []
    cursor: str | None = None
    while True:
        page = current_services().devices.page(
            DeviceFilter(status="active", group=group), limit=GROUP_PAGE, cursor=cursor
        )
        devices += page.items
        if page.next_cursor is None:
            return devices
        cursor = page.next_cursor


@bp.operation(
    "POST",
    "/commands",
    access=ADMIN,
    returns={201: GroupCommandQueued},
    errors=(400, 404),
    body=GroupCommandBody,
)
def queue_group_command(body: GroupCommandBody) -> tuple[Response, int]:
    """One command per active device of the group (revoked devices are left out)."""
    now = datetime.now(UTC)
    _build_command("-", body, now)  # a bad kind or parameter is a 400 even for an empty group
    devices = _group_devices(body.group)
    if not devices:
        raise NotFound(f"group {body.group[:70]!r} has no active device", hint="GET /api/devices?group=")
    commands = [_build_command(d.device_id, body, now, group=body.group) for d in devices]
    for command in commands:
        current_services().devices.queue_command(command)
        _audit_command(command)
    answer = {
        "group": body.group,
        "queued": len(commands),
        "commands": [present_command(c) for c in commands],
    }
    return jsonify(answer), 201


@bp.operation("GET", "/commands", access=VIEWER, returns={200: CommandList}, errors=(400,))
def list_commands(query: CommandListQuery) -> Response:
    """Commands of the fleet, newest first, by status and device; page with ``cursor``."""
    where = CommandFilter(device_id=query.device_id, status=query.status)
    page = _paged(current_services().devices.commands, where=where, limit=query.limit, cursor=query.cursor)
    items = [present_command(c) for c in page.items]
    return jsonify({"items": items, "limit": query.limit, "next_cursor": page.next_cursor})


@bp.operation("GET", "/<device_id>/commands", access=VIEWER, returns={200: CommandList}, errors=(400, 404))
def list_device_commands(path: DevicePath, query: DeviceCommandQuery) -> Response:
    """The device's commands, newest first; page with ``cursor``."""
    device = ensure_device(path.device_id)
    where = CommandFilter(device_id=device.device_id, status=query.status)
    page = _paged(current_services().devices.commands, where=where, limit=query.limit, cursor=query.cursor)
    items = [present_command(c) for c in page.items]
    return jsonify({"items": items, "limit": query.limit, "next_cursor": page.next_cursor})


@bp.operation(
    "POST", "/commands/<command_id>/cancel", access=ADMIN, returns={200: CommandOut}, errors=(400, 404, 409)
)
def cancel_command(path: AdminCommandPath) -> Response:
    """Cancel a queued or delivered command; a finished one is a 409 naming its state."""
    registry = current_services().devices
    command_id = str(path.command_id)
    command = registry.get_command(command_id)
    if command is None:
        raise NotFound(f"command {command_id} not found", hint="GET /api/devices/commands lists them")
    done = registry.finish_command(
        command_id,
        expected=CANCELLABLE,
        status="cancelled",
        at=datetime.now(UTC),
        result={"cancelled_by": current_actor()},
    )
    if done is None:
        now = registry.get_command(command_id)
        state = now.status if now else "deleted"
        raise Conflict(
            f"command {command_id} is {state}: it cannot be cancelled",
            hint=f"only {' or '.join(CANCELLABLE)} commands can be cancelled",
        )
    audit("device.command_cancelled", done.device_id, {"command_id": command_id})
    return jsonify(present_command(done))


# --- thresholds -----------------------------------------------------------------------------------


def _threshold(item: ThresholdItem) -> Threshold:
    """A sensor's limits, checked: finite numbers, at least one, warning before critical."""
    limits = [v for v in (item.warning, item.critical) if v is not None]
    if not limits:
        raise BadRequest(f"threshold {item.sensor!r} has no limit", hint="give warning, critical or both")
    if not all(math.isfinite(v) for v in limits):
        raise BadRequest(f"threshold {item.sensor!r} has a limit that is not a finite number")
    if item.warning is not None and item.critical is not None:
        early = item.warning <= item.critical if item.direction == "above" else item.warning >= item.critical
        if not early:
            raise BadRequest(
                f"threshold {item.sensor!r}: warning must come before critical",
                hint="above: warning <= critical; below: warning >= critical",
            )
    return Threshold(
        sensor=item.sensor, direction=item.direction, warning=item.warning, critical=item.critical
    )


def _thresholds(body: ThresholdsBody) -> list[Threshold]:
    sensors = [t.sensor for t in body.thresholds]
    repeated = sorted({s for s in sensors if sensors.count(s) > 1})
    if repeated:
        raise BadRequest(f"sensor {repeated[0]!r} is listed twice", hint="one threshold per sensor")
    return [_threshold(t) for t in body.thresholds]


def _threshold_body(device_id: str | None) -> dict[str, Any]:
    items = current_services().devices.thresholds(device_id)
    return {"device_id": device_id, "thresholds": [dataclasses.asdict(t) for t in items]}


@bp.operation("GET", "/thresholds", access=VIEWER, returns={200: ThresholdSet})
def fleet_thresholds() -> Response:
    """The fleet's default thresholds, by sensor."""
    return jsonify(_threshold_body(None))


@bp.operation(
    "PUT", "/thresholds", access=ADMIN, returns={200: ThresholdSet}, errors=(400,), body=ThresholdsBody
)
def put_fleet_thresholds(body: ThresholdsBody) -> Response:
    """Replace the fleet's default thresholds (a device's own thresholds override them per sensor)."""
    thresholds = _thresholds(body)
    current_services().devices.set_thresholds(None, thresholds)
    audit("device.thresholds_set", "*", {"sensors": [t.sensor for t in thresholds]})
    return jsonify(_threshold_body(None))


@bp.operation("GET", "/<device_id>/thresholds", access=VIEWER, returns={200: ThresholdSet}, errors=(400, 404))
def device_thresholds(path: DevicePath) -> Response:
    """The thresholds set for this device alone (the fleet's apply to the other sensors)."""
    return jsonify(_threshold_body(ensure_device(path.device_id).device_id))


@bp.operation(
    "PUT",
    "/<device_id>/thresholds",
    access=ADMIN,
    returns={200: ThresholdSet},
    errors=(400, 404),
    body=ThresholdsBody,
)
def put_device_thresholds(path: DevicePath, body: ThresholdsBody) -> Response:
    """Replace the device's own thresholds."""
    device = ensure_device(path.device_id)
    thresholds = _thresholds(body)
    current_services().devices.set_thresholds(device.device_id, thresholds)
    audit("device.thresholds_set", device.device_id, {"sensors": [t.sensor for t in thresholds]})
    return jsonify(_threshold_body(device.device_id))


# --- alerts ---------------------------------------------------------------------------------------


@bp.operation("GET", "/alerts", access=VIEWER, returns={200: AlertList}, errors=(400,))
def list_alerts(query: AlertListQuery) -> Response:
    """Alerts, newest opened first, by device, kind, level, open and unacknowledged; page with ``cursor``."""
    where = AlertFilter(
        device_id=query.device_id,
        kind=query.kind,
        level=query.level,
        open_only=query.open,
        unacknowledged_only=query.unacknowledged,
    )
    page = _paged(current_services().devices.alerts, where=where, limit=query.limit, cursor=query.cursor)
    items = [present_alert(a) for a in page.items]
    return jsonify({"items": items, "limit": query.limit, "next_cursor": page.next_cursor})


@bp.operation("POST", "/alerts/<alert_id>/ack", access=ADMIN, returns={200: AlertOut}, errors=(400, 404))
def acknowledge_alert(path: AlertPath) -> Response:
    """Acknowledge an alert (once: acknowledging again keeps the first actor and time)."""
    alert = current_services().devices.acknowledge_alert(
        path.alert_id, actor=current_actor(), at=datetime.now(UTC)
    )
    if alert is None:
        raise NotFound(f"alert {path.alert_id[:70]!r} not found", hint="GET /api/devices/alerts lists them")
    audit("device.alert_acknowledged", alert.device_id, {"alert_id": alert.alert_id})
    return jsonify(present_alert(alert))

"""``/api/devices``: the admin side of the fleet (issue 8): list, detail, provision and the lifecycle.

Reads take any API token (viewer); every write takes the admin role and is audited with the token's
name as actor. A device token never opens these routes (``api/auth.py`` refuses it: 401). Nothing here
returns or logs a token hash or a fingerprint (``devices/present.py``); a new device token is returned
once, by provision and rotate, and only its keyed hash is kept.

Commands, thresholds and alerts are in ``api/device_ops.py``; telemetry in ``api/telemetry.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import (
    DeviceListQuery,
    DevicePatchBody,
    DevicePath,
    ProvisionBody,
    RevokeBody,
    UnrevokeBody,
)
from eventpulse.api.resources import DeviceDeleted, DeviceList, DeviceOut, DeviceProvisioned
from eventpulse.api.roles import ADMIN, VIEWER
from eventpulse.devices.present import present_device
from eventpulse.devices.tokens import DEVICE_ID_RULE, is_valid_device_id, new_device_token, token_hash
from eventpulse.errors import BadRequest, Conflict, NotConfigured, NotFound
from eventpulse.ports.devices import Device, DeviceFilter
from eventpulse.schema.naming import DATASET_NAME_RE
from eventpulse.settings import Settings

bp = Operations("devices", __name__, url_prefix="/api/devices")


def settings_now() -> Settings:
    settings: Settings = current_app.config["EVENTPULSE_SETTINGS"]
    return settings


def show(device: Device, now: datetime | None = None) -> dict[str, Any]:
    """The device as every route here answers it (no secret; online from the setting)."""
    return present_device(
        device,
        now=now or datetime.now(UTC),
        offline_after_seconds=settings_now().device_offline_after_seconds,
    )


def audit(action: str, device_id: str, details: dict[str, Any] | None = None) -> None:
    """Record an admin action on a device with the calling token as actor (never a secret)."""
    with current_services().store.transaction() as tx:
        tx.audit.record(
            actor=current_actor(), action=action, entity_type="device", entity_id=device_id, details=details
        )


def ensure_device(device_id: str) -> Device:
    """The device, or the 404 envelope naming it."""
    device = current_services().devices.get(device_id) if is_valid_device_id(device_id) else None
    if device is None:
        raise NotFound(f"device {device_id[:70]!r} not found", hint="GET /api/devices lists the devices")
    return device


def ensure_pepper() -> str:
    pepper = settings_now().device_token_pepper
    if not pepper:
        raise NotConfigured(
            "device tokens are not configured on this server", hint="set EVENTPULSE_DEVICE_TOKEN_PEPPER"
        )
    return pepper


def ensure_datasets(datasets: list[str] | None) -> tuple[str, ...]:
    """The device's dataset names, checked like every dataset name; a bad one is a 400 naming it."""
    for name in datasets or ():
        if not DATASET_NAME_RE.match(name):
            raise BadRequest(
                f"dataset {name[:70]!r} is not a valid name",
                hint="a letter a-z, then up to 62 letters a-z, digits or underscores",
            )
    return tuple(dict.fromkeys(datasets or ()))


def build_filter(query: DeviceListQuery, now: datetime) -> DeviceFilter:
    cutoff = now - timedelta(seconds=settings_now().device_offline_after_seconds)
    return DeviceFilter(
        status=query.status,
        group=query.group,
        search=query.search,
        seen_after=cutoff if query.online is True else None,
        seen_before=cutoff if query.online is False else None,
    )


@bp.operation("GET", "", access=VIEWER, returns={200: DeviceList}, errors=(400,))
def list_devices(query: DeviceListQuery) -> Response:
    """Devices by id, filtered; page with ``cursor`` = the previous ``next_cursor``."""
    now = datetime.now(UTC)
    try:
        page = current_services().devices.page(
            build_filter(query, now), limit=query.limit, cursor=query.cursor
        )
    except ValueError as exc:
        raise BadRequest(str(exc), hint="pass next_cursor of the previous page, or no cursor") from None
    items = [show(d, now) for d in page.items]
    return jsonify({"items": items, "limit": query.limit, "next_cursor": page.next_cursor})


@bp.operation("GET", "/<device_id>", access=VIEWER, returns={200: DeviceOut}, errors=(400, 404))
def get_device(path: DevicePath) -> Response:
    """One device with its health and online state (never its token hash or fingerprint)."""
    return jsonify(show(ensure_device(path.device_id)))


@bp.operation(
    "POST",
    "",
    access=ADMIN,
    returns={201: DeviceProvisioned},
    errors=(400, 409, 503),
    body=ProvisionBody,
)
def provision(body: ProvisionBody) -> tuple[Response, int]:
    """Register a device and mint its token, shown once; the device may later enroll to bind a fingerprint."""
    pepper = ensure_pepper()
    if not is_valid_device_id(body.device_id):
        raise BadRequest(
            f"device_id {body.device_id[:70]!r} is not valid",
            hint=DEVICE_ID_RULE,
        )
    now = datetime.now(UTC)
    token = new_device_token()
    device = Device(
        device_id=body.device_id,
        status="active",
        created_at=now,
        created_by=current_actor(),
        token_hash=token_hash(pepper, token),
        token_rotated_at=now,
        label=body.label,
        group=body.group,
        datasets=ensure_datasets(body.datasets),
        cadence_seconds=body.cadence_seconds,
    )
    if not current_services().devices.create(device):
        raise Conflict(
            f"device {body.device_id} exists already",
            hint="choose another id, or POST /api/devices/<id>/rotate for a new token",
        )
    audit("device.provisioned", body.device_id, {"group": body.group, "label": body.label})
    return jsonify({"device": show(ensure_device(body.device_id), now), "device_token": token}), 201


@bp.operation(
    "POST", "/<device_id>/rotate", access=ADMIN, returns={200: DeviceProvisioned}, errors=(400, 404, 409, 503)
)
def rotate(path: DevicePath) -> Response:
    """A new token for the device, shown once; the old one stops working at once."""
    pepper = ensure_pepper()
    device = ensure_device(path.device_id)
    if device.status == "revoked":
        raise Conflict(f"device {device.device_id} is revoked", hint="un-revoke it first")
    token = new_device_token()
    now = datetime.now(UTC)
    if not current_services().devices.set_token(
        device.device_id,
        token_hash=token_hash(pepper, token),
        rotated_at=now,
        expected_token_hash=device.token_hash,
    ):
        raise Conflict(f"device {device.device_id} changed while rotating", hint="retry the rotation")
    audit("device.token_rotated", device.device_id)
    return jsonify({"device": show(ensure_device(device.device_id), now), "device_token": token})


@bp.operation(
    "POST", "/<device_id>/revoke", access=ADMIN, returns={200: DeviceOut}, errors=(400, 404), body=RevokeBody
)
def revoke(path: DevicePath, body: RevokeBody) -> Response:
    """Refuse the device's token from now on (403 on the edge routes) and its enrolment."""
    ensure_device(path.device_id)
    now = datetime.now(UTC)
    device = current_services().devices.update(
        path.device_id, at=now, status="revoked", revoked_at=now, revoked_by=current_actor()
    )
    device = device or ensure_device(path.device_id)
    audit("device.revoked", path.device_id, {"reason": body.reason})
    return jsonify(show(device, now))


@bp.operation(
    "POST",
    "/<device_id>/unrevoke",
    access=ADMIN,
    returns={200: DeviceOut},
    errors=(400, 404),
    body=UnrevokeBody,
    body_optional=True,
)
def unrevoke(path: DevicePath, body: UnrevokeBody) -> Response:
    """Accept the device's current token again."""
    ensure_device(path.device_id)
    now = datetime.now(UTC)
    device = current_services().devices.update(
        path.device_id, at=now, status="active", revoked_at=None, revoked_by=None
    )
    device = device or ensure_device(path.device_id)
    audit("device.unrevoked", path.device_id, {"reason": body.reason})
    return jsonify(show(device, now))


@bp.operation(
    "PATCH", "/<device_id>", access=ADMIN, returns={200: DeviceOut}, errors=(400, 404), body=DevicePatchBody
)
def patch_device(path: DevicePath, body: DevicePatchBody) -> Response:
    """Relabel, regroup, or change the device's datasets or cadence (only the fields given)."""
    ensure_device(path.device_id)
    fields = body.model_dump(exclude_unset=True)
    for name in ("label", "group"):
        if name in fields and fields[name] is None:
            raise BadRequest(f"{name} cannot be null", hint=f"send a string ('' for no {name})")
    if not fields:
        raise BadRequest("nothing to change", hint="send one of label, group, datasets, cadence_seconds")
    if "datasets" in fields:
        fields["datasets"] = ensure_datasets(fields["datasets"])
    now = datetime.now(UTC)
    device = current_services().devices.update(path.device_id, at=now, **fields)
    device = device or ensure_device(path.device_id)
    audit("device.updated", path.device_id, {"fields": sorted(fields)})
    return jsonify(show(device, now))


@bp.operation("DELETE", "/<device_id>", access=ADMIN, returns={200: DeviceDeleted}, errors=(400, 404))
def delete_device(path: DevicePath) -> Response:
    """Remove the device with its alerts, thresholds, commands and media records (telemetry stays)."""
    ensure_device(path.device_id)
    if not current_services().devices.delete(path.device_id):
        ensure_device(path.device_id)
    audit("device.deleted", path.device_id)
    return jsonify({"device_id": path.device_id, "deleted": True})

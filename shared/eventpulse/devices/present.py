"""How a device, alert, command or media record is shown: plain JSON values, never a secret.

The token hash and the enrollment fingerprint are left out here, for every route, so no read can leak
them (the reference implementation's device-status view showed the fingerprint, which allowed takeover).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from eventpulse.ports.devices import Alert, Command, Device, MediaObject

SECRET_FIELDS = frozenset({"token_hash", "fingerprint_hash"})


def is_online(device: Device, *, now: datetime, offline_after_seconds: float) -> bool:
    seen = device.last_seen_at
    return seen is not None and now - seen <= timedelta(seconds=offline_after_seconds)


def present_device(device: Device, *, now: datetime, offline_after_seconds: float) -> dict[str, Any]:
    body = {
        f.name: getattr(device, f.name) for f in dataclasses.fields(device) if f.name not in SECRET_FIELDS
    }
    body["datasets"] = list(device.datasets)
    body["health"] = dataclasses.asdict(device.health)
    body["online"] = is_online(device, now=now, offline_after_seconds=offline_after_seconds)
    body["has_fingerprint"] = device.fingerprint_hash is not None
    return body


def present_alert(alert: Alert) -> dict[str, Any]:
    return dataclasses.asdict(alert)


def present_command(command: Command) -> dict[str, Any]:
    body = dataclasses.asdict(command)
    body["params"] = dict(command.params)
    body["result"] = None if command.result is None else dict(command.result)
    return body


def present_media(media: MediaObject) -> dict[str, Any]:
    return dataclasses.asdict(media)

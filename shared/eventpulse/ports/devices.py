"""The device-registry port: field devices, their alerts, thresholds, commands and media records.

Unlike the metadata store, the registry is not one transaction: its cloud adapter is Firestore, which
shares no transaction with Postgres. Every method is therefore atomic on its own (one row or one
document, or a compare-and-set on one), and callers write the audit log themselves, after the change.

Secrets never leave the registry's callers: ``Device.token_hash`` and ``Device.fingerprint_hash`` are
keyed hashes (``devices/tokens.py``), and no read route may present them (``devices/present.py``).

Lists page by an opaque ``cursor`` (the adapter's own encoding of where the page ended): pass
``DevicePage.next_cursor`` back to get the next page; None means there is none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

DeviceStatus = Literal["active", "revoked"]
AlertKind = Literal["threshold", "silent"]
"""``threshold``: a reading crossed a sensor's limit; ``silent``: nothing heard for longer than the
device's cadence allows."""
AlertLevel = Literal["warning", "critical"]
CommandKind = Literal["restart_agent", "set_sampling_interval", "rotate_token", "upload_logs", "update_agent"]
CommandStatus = Literal["queued", "delivered", "succeeded", "failed", "expired", "cancelled"]
ThresholdDirection = Literal["above", "below"]

T = TypeVar("T")


@dataclass(frozen=True)
class DevicePage(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Health:
    """What the device last said about itself (from heartbeats)."""

    battery_v: float | None = None
    rssi_dbm: int | None = None
    firmware_version: str | None = None
    agent_version: str | None = None
    status: str | None = None
    """What the device reports: ok, degraded, error (offline is derived from ``last_seen_at``)."""
    lat: float | None = None
    lon: float | None = None
    spool_depth: int | None = None
    """Events the agent holds that are not yet accepted (its backlog)."""
    reported_at: datetime | None = None


@dataclass(frozen=True)
class Device:
    device_id: str
    status: DeviceStatus
    created_at: datetime
    created_by: str
    """``enroll`` (self-enrolled with the fleet token) or the admin's actor (``token:<name>``)."""
    token_hash: str = field(repr=False)
    """Keyed hash of the current device token (never the token)."""
    token_rotated_at: datetime
    fingerprint_hash: str | None = field(default=None, repr=False)
    """Keyed hash of the enrollment fingerprint; None for a device provisioned without one."""
    label: str = ""
    group: str = ""
    """A fleet group name; an admin can queue one command for every device of a group."""
    datasets: tuple[str, ...] = ()
    """Datasets this device may send; empty means the fleet's (setting ``EVENTPULSE_EDGE_DATASETS``)."""
    cadence_seconds: float | None = None
    """How often the device is expected to be heard; None means the fleet default."""
    last_seen_at: datetime | None = None
    health: Health = field(default_factory=Health)
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class DeviceFilter:
    status: DeviceStatus | None = None
    group: str | None = None
    search: str | None = None
    """Case-insensitive prefix of the device id or the label."""
    seen_before: datetime | None = None
    """Only devices last seen before this instant, or never (the offline ones)."""
    seen_after: datetime | None = None
    """Only devices last seen at or after this instant (the online ones)."""


@dataclass(frozen=True)
class Threshold:
    """A sensor's limits: a reading beyond ``warning`` (or ``critical``) in ``direction`` alerts."""

    sensor: str
    direction: ThresholdDirection = "above"
    warning: float | None = None
    critical: float | None = None


@dataclass(frozen=True)
class Alert:
    alert_id: str
    device_id: str
    kind: AlertKind
    sensor: str
    """The sensor of a threshold alert; '' for a silent device."""
    level: AlertLevel
    message: str
    value: float | None
    limit: float | None
    opened_at: datetime
    last_at: datetime
    """When the condition was last observed (an open alert is updated, not duplicated)."""
    occurrences: int = 1
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class AlertFilter:
    device_id: str | None = None
    open_only: bool = False
    """Only alerts not yet resolved."""
    unacknowledged_only: bool = False
    kind: AlertKind | None = None
    level: AlertLevel | None = None


@dataclass(frozen=True)
class Command:
    command_id: str
    device_id: str
    kind: CommandKind
    params: Mapping[str, Any]
    status: CommandStatus
    created_by: str
    created_at: datetime
    expires_at: datetime
    group: str = ""
    """The group it was queued for ('' when queued for the device alone)."""
    delivered_at: datetime | None = None
    finished_at: datetime | None = None
    result: Mapping[str, Any] | None = None
    """What the device reported on acknowledgement (output, error), or why it ended otherwise."""


@dataclass(frozen=True)
class CommandFilter:
    device_id: str | None = None
    status: CommandStatus | None = None


@dataclass(frozen=True)
class MediaObject:
    media_id: str
    device_id: str
    key: str
    """The object's key in the media store, always under ``media/<device_id>/``."""
    content_type: str
    size_bytes: int
    created_at: datetime
    sha256: str | None = None
    captured_at: datetime | None = None


class DeviceRegistry(Protocol):
    # --- devices ----------------------------------------------------------------------------------

    def create(self, device: Device) -> bool:
        """Create the device; False (and nothing changed) when its id exists already."""
        ...

    def get(self, device_id: str) -> Device | None: ...

    def find_by_token_hash(self, token_hash: str) -> Device | None:
        """The device whose current token hashes to ``token_hash`` (``Authorization: Bearer`` alone)."""
        ...

    def page(self, where: DeviceFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Device]:
        """Devices matching ``where``, ordered by device id."""
        ...

    def set_token(
        self,
        device_id: str,
        *,
        token_hash: str,
        rotated_at: datetime,
        expected_token_hash: str | None = None,
        fingerprint_hash: str | None = None,
    ) -> bool:
        """Replace the token hash (and bind ``fingerprint_hash`` when given); False when the device is
        missing, revoked, or ``expected_token_hash`` is given and no longer current (a lost race)."""
        ...

    def update(self, device_id: str, *, at: datetime, **fields: Any) -> Device | None:
        """Change ``label``, ``group``, ``datasets``, ``cadence_seconds``, ``status``, ``revoked_at``,
        ``revoked_by``; the device as it is now, or None when it does not exist."""
        ...

    def delete(self, device_id: str) -> bool:
        """Remove the device with its alerts, thresholds, commands and media records (its curated rows
        and raw files stay); False when it did not exist."""
        ...

    def touch(self, device_id: str, *, at: datetime, health: Health | None = None) -> None:
        """Record that the device was heard at ``at`` (never moves ``last_seen_at`` back), and its
        health when the contact was a heartbeat."""
        ...

    # --- thresholds -------------------------------------------------------------------------------

    def set_thresholds(self, device_id: str | None, thresholds: Sequence[Threshold]) -> None:
        """Replace the thresholds of a device, or the fleet's defaults when ``device_id`` is None."""
        ...

    def thresholds(self, device_id: str | None) -> list[Threshold]:
        """The thresholds set for the device alone (or the fleet's when None), by sensor."""
        ...

    # --- alerts -----------------------------------------------------------------------------------

    def raise_alert(
        self,
        *,
        device_id: str,
        kind: AlertKind,
        sensor: str,
        level: AlertLevel,
        message: str,
        value: float | None,
        limit: float | None,
        at: datetime,
    ) -> Alert:
        """Open an alert, or update the open one of the same (device, kind, sensor): level, message,
        value, limit, ``last_at`` and one more occurrence. At most one open alert per key."""
        ...

    def resolve_alerts(self, *, device_id: str, kind: AlertKind, sensor: str, at: datetime) -> int:
        """Close the open alert of that key (the condition has cleared); how many were closed."""
        ...

    def alerts(self, where: AlertFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Alert]:
        """Alerts matching ``where``, newest opened first."""
        ...

    def acknowledge_alert(self, alert_id: str, *, actor: str, at: datetime) -> Alert | None:
        """Mark the alert acknowledged (once: a second call keeps the first actor); None if missing."""
        ...

    # --- commands ---------------------------------------------------------------------------------

    def queue_command(self, command: Command) -> None: ...

    def get_command(self, command_id: str) -> Command | None: ...

    def deliver_commands(self, device_id: str, *, now: datetime, limit: int) -> list[Command]:
        """The device's commands to run, oldest first: queued ones not expired become ``delivered``
        (``delivered_at`` = now), and delivered ones not yet acknowledged are handed out again (the
        device may have crashed before acknowledging)."""
        ...

    def finish_command(
        self,
        command_id: str,
        *,
        expected: Sequence[CommandStatus],
        status: CommandStatus,
        at: datetime,
        result: Mapping[str, Any] | None = None,
    ) -> Command | None:
        """Compare-and-set: move the command to ``status`` when it is in one of ``expected``; the
        command as it is now, or None when missing or not in an expected state."""
        ...

    def commands(self, where: CommandFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Command]:
        """Commands matching ``where``, newest first."""
        ...

    def expire_commands(self, *, now: datetime) -> int:
        """Queued or delivered commands past ``expires_at`` become ``expired``; how many."""
        ...

    # --- media ------------------------------------------------------------------------------------

    def add_media(self, media: MediaObject) -> bool:
        """Record a finalized media object; False when its key is recorded already (idempotent)."""
        ...

    def media(
        self, device_id: str | None, *, limit: int, cursor: str | None = None
    ) -> DevicePage[MediaObject]:
        """Media records of a device (or every device), newest first."""
        ...

    # --- health of the adapter --------------------------------------------------------------------

    def is_reachable(self) -> bool: ...

    def close(self) -> None: ...

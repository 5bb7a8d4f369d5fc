"""Alert evaluation: which alerts a batch of readings, or a device's silence, raises or resolves.

Pure: no I/O. The caller reads the thresholds, the readings and the devices, and applies the
decisions to the registry (``pipeline/device_alerts.py``), then audits and logs each one.

Rules (docs/API.md#alerts):
- Thresholds are per sensor; a device's own threshold for a sensor replaces the fleet's for that
  sensor (other sensors keep the fleet's).
- A reading beyond ``critical`` (in the threshold's direction) is critical, else beyond ``warning`` is a
  warning. Per (device, sensor) one alert is raised with the batch's worst reading (highest level,
  then the most extreme value, then the earliest) and when it was read.
- The newest reading of a (device, sensor) back within bounds resolves its open alert (after the raise,
  when the batch also held a breach: the history keeps it). No hysteresis: one in-bounds reading
  resolves, so a value hovering at the limit opens and resolves alerts repeatedly.
- Values that are not finite numbers (None, NaN, infinity, text, booleans) are ignored and counted.
- Silence: a device not heard for longer than ``cadence x grace`` raises a ``silent`` warning, and
  for longer than twice that a critical one; a device heard again resolves it. A device never heard is
  measured from its creation. A revoked device is not expected to report: its silence resolves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from eventpulse.ports.devices import AlertKind, AlertLevel, Device, Threshold

SILENT_SENSOR = ""
"""The sensor key of a silent alert (the registry keys alerts by device, kind and sensor)."""
SILENT_CRITICAL_FACTOR = 2.0
"""A silence this many times longer than the allowed one is critical."""


@dataclass(frozen=True)
class Reading:
    device_id: str
    sensor: str
    value: object
    """As read from the curated row; anything but a finite number is ignored."""
    ts: datetime


@dataclass(frozen=True)
class RaiseAlert:
    device_id: str
    kind: AlertKind
    sensor: str
    level: AlertLevel
    message: str
    value: float | None
    limit: float | None
    at: datetime


@dataclass(frozen=True)
class ResolveAlert:
    device_id: str
    kind: AlertKind
    sensor: str
    at: datetime


@dataclass(frozen=True)
class AlertDecisions:
    raises: list[RaiseAlert] = field(default_factory=list)
    resolves: list[ResolveAlert] = field(default_factory=list)
    ignored_values: int = 0
    """Readings whose value was not a finite number."""
    unwatched: int = 0
    """Readings of a sensor without a threshold."""


def merge_thresholds(fleet: Iterable[Threshold], device: Iterable[Threshold]) -> dict[str, Threshold]:
    """The thresholds that apply to a device, by sensor: its own replace the fleet's, sensor by sensor."""
    merged = {t.sensor: t for t in fleet}
    merged.update({t.sensor: t for t in device})
    return merged


def as_number(value: object) -> float | None:
    """The reading's value as a finite float, or None when it is not one (bool is not a number here)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def decide_level(threshold: Threshold, value: float) -> tuple[AlertLevel, float] | None:
    """The level a value reaches and the limit it crossed, or None when it is within bounds."""
    for level, limit in (("critical", threshold.critical), ("warning", threshold.warning)):
        if limit is not None and (value > limit if threshold.direction == "above" else value < limit):
            return level, limit  # type: ignore[return-value]
    return None


@dataclass(frozen=True)
class _Breach:
    level: AlertLevel
    limit: float
    value: float
    ts: datetime


def _is_worse(new: _Breach, old: _Breach | None, direction: str) -> bool:
    if old is None:
        return True
    rank = {"warning": 1, "critical": 2}
    if rank[new.level] != rank[old.level]:
        return rank[new.level] > rank[old.level]
    more_extreme = new.value > old.value if direction == "above" else new.value < old.value
    return more_extreme or (new.value == old.value and new.ts < old.ts)


def decide_threshold_alerts(
    readings: Iterable[Reading], thresholds: Mapping[str, Mapping[str, Threshold]]
) -> AlertDecisions:
    """Raise and resolve decisions for a batch; ``thresholds`` maps device id -> sensor -> threshold."""
    worst: dict[tuple[str, str], _Breach] = {}
    newest: dict[tuple[str, str], tuple[datetime, bool]] = {}  # key -> (ts, within bounds)
    ignored = unwatched = 0
    for reading in readings:
        threshold = thresholds.get(reading.device_id, {}).get(reading.sensor)
        if threshold is None:
            unwatched += 1
            continue
        value = as_number(reading.value)
        if value is None:
            ignored += 1
            continue
        key = (reading.device_id, reading.sensor)
        crossed = decide_level(threshold, value)
        if crossed is not None:
            breach = _Breach(crossed[0], crossed[1], value, reading.ts)
            if _is_worse(breach, worst.get(key), threshold.direction):
                worst[key] = breach
        if key not in newest or reading.ts >= newest[key][0]:
            newest[key] = (reading.ts, crossed is None)
    raises = [
        RaiseAlert(
            device_id=device,
            kind="threshold",
            sensor=sensor,
            level=b.level,
            message=_threshold_message(sensor, b, thresholds[device][sensor].direction),
            value=b.value,
            limit=b.limit,
            at=b.ts,
        )
        for (device, sensor), b in sorted(worst.items())
    ]
    resolves = [
        ResolveAlert(device_id=device, kind="threshold", sensor=sensor, at=ts)
        for (device, sensor), (ts, within) in sorted(newest.items())
        if within
    ]
    return AlertDecisions(raises, resolves, ignored_values=ignored, unwatched=unwatched)


def _threshold_message(sensor: str, breach: _Breach, direction: str) -> str:
    return f"{sensor} {breach.value:g} is {direction} the {breach.level} limit {breach.limit:g}"


def heard_at(device: Device) -> datetime:
    """When the device was last heard, or created when it never was."""
    return device.last_seen_at or device.created_at


def is_offline(device: Device, *, now: datetime, offline_after_seconds: float) -> bool:
    """Not heard for longer than the fleet's offline threshold (what the device views show)."""
    return now - heard_at(device) > timedelta(seconds=offline_after_seconds)


def allowed_silence(device: Device, *, default_cadence_seconds: float, grace: float) -> timedelta:
    """How long the device may stay silent: its cadence (else the fleet's) times the grace factor."""
    cadence = device.cadence_seconds or default_cadence_seconds
    return timedelta(seconds=cadence * grace)


def decide_silence(
    devices: Sequence[Device], *, now: datetime, default_cadence_seconds: float, grace: float
) -> AlertDecisions:
    """A ``silent`` alert for each active device silent too long; resolution for every other device."""
    raises: list[RaiseAlert] = []
    resolves: list[ResolveAlert] = []
    for device in devices:
        allowed = allowed_silence(device, default_cadence_seconds=default_cadence_seconds, grace=grace)
        silent_for = now - heard_at(device)
        if device.status != "active" or silent_for <= allowed:
            resolves.append(ResolveAlert(device.device_id, "silent", SILENT_SENSOR, now))
            continue
        critical = silent_for > allowed * SILENT_CRITICAL_FACTOR
        seconds = silent_for.total_seconds()
        raises.append(
            RaiseAlert(
                device_id=device.device_id,
                kind="silent",
                sensor=SILENT_SENSOR,
                level="critical" if critical else "warning",
                message=(
                    f"not heard for {seconds:.0f} s (allowed {allowed.total_seconds():.0f} s: "
                    f"cadence x grace)"
                ),
                value=seconds,
                limit=allowed.total_seconds(),
                at=now,
            )
        )
    return AlertDecisions(raises, resolves)

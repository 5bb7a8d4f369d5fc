"""Readings: simulated sensors for demos, and the event shape the edge_telemetry contract expects.

Events follow contracts/edge_telemetry.json: a uuid4 event_id made here, the device_id, event_type
``reading`` or ``heartbeat``, a sensor name in snake_case, units from the contract's set, and ``ts`` in UTC
ISO 8601 without a zone (files carry no zone).
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

UNITS = frozenset({"%", "psi", "C", "F", "g", "V", "dBm", "kPa"})


def utc_ts(now: datetime | None = None) -> str:
    """UTC wall time as ISO 8601 without a zone, to the millisecond."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds")


def reading(
    device_id: str, sensor: str, value: float, units: str, now: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    if units not in UNITS:
        raise ValueError(f"units {units!r} are not in the contract's set {sorted(UNITS)}")
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "device_id": device_id,
        "event_type": "reading",
        "sensor": sensor,
        "value": round(float(value), 3),
        "units": units,
        "ts": utc_ts(now),
    }
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


def heartbeat_event(device_id: str, health: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A heartbeat row for the telemetry table, so battery and signal history reach the curated data."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "device_id": device_id,
        "event_type": "heartbeat",
        "ts": utc_ts(now),
    }
    for key in ("battery_v", "rssi_dbm", "firmware_version", "status", "lat", "lon"):
        if health.get(key) is not None:
            event[key] = health[key]
    return event


@dataclass
class SimulatedSensors:
    """Plausible readings: a slow daily wave plus noise, each sensor in its physical range.

    Temperature in C around 18, relative humidity in % between 20 and 95, pressure in kPa around 101.3;
    a battery that drains slowly and recovers (a solar panel) and an LTE signal that wanders.
    """

    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._battery = 4.0

    def sample(
        self, device_id: str, now: datetime | None = None, lat: float | None = None, lon: float | None = None
    ) -> list[dict[str, Any]]:
        moment = now or datetime.now(UTC)
        phase = 2 * math.pi * (moment.hour * 3600 + moment.minute * 60 + moment.second) / 86400
        temp = 18 + 6 * math.sin(phase - math.pi / 2) + self._rng.gauss(0, 0.3)
        humidity = min(95.0, max(20.0, 60 - 15 * math.sin(phase - math.pi / 2) + self._rng.gauss(0, 1.5)))
        pressure = 101.3 + self._rng.gauss(0, 0.15)
        where = {"lat": lat, "lon": lon}
        return [
            reading(device_id, "temperature", temp, "C", moment, **where),
            reading(device_id, "humidity", humidity, "%", moment, **where),
            reading(device_id, "pressure", pressure, "kPa", moment, **where),
        ]

    def health(self) -> dict[str, Any]:
        """Battery volts (3.3..4.2) and RSSI in dBm (-110..-60) for the heartbeat."""
        self._battery = min(4.2, max(3.3, self._battery + self._rng.gauss(0, 0.01)))
        rssi = int(min(-60, max(-110, -85 + self._rng.gauss(0, 6))))
        return {"battery_v": round(self._battery, 3), "rssi_dbm": rssi}

"""Which device an ingestion came from: its ``source`` is ``device:<device_id>`` (pure).

The edge routes register a device's upload with that source; the pipeline reads it back to bind the
file's rows to the device (a row naming another device is never loaded as the caller's), and the
statistics group by source, so trends per device come for free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

DEVICE_SOURCE_PREFIX = "device:"


def device_source(device_id: str) -> str:
    return DEVICE_SOURCE_PREFIX + device_id


def device_of_source(source: str | None) -> str | None:
    """The device id of a ``device:<id>`` source, else None (an upload by a person or a job)."""
    if source and source.startswith(DEVICE_SOURCE_PREFIX) and len(source) > len(DEVICE_SOURCE_PREFIX):
        return source[len(DEVICE_SOURCE_PREFIX) :]
    return None


DEVICE_COLUMN = "device_id"
"""The column that binds a row to a device (edge_telemetry and any dataset that declares it)."""

ROW_BOUND_EXPECTATION = "eventpulse.row_bound_to_device"
"""The failure a row naming another device is quarantined with (``quarantined_rows.failures``)."""

RowBinding = Literal["own", "fill", "foreign"]


def bind_row(value: str | None, sender: str) -> RowBinding:
    """How a device-sent row's ``device_id`` relates to the sender.

    ``fill``: absent (null or empty) -> the row is the sender's and gets the sender's id, because a
    device that omits its own id cannot be naming anyone else; ``own``: it names the sender;
    ``foreign``: it names another device and is never loaded (quarantined, or the file is refused).
    """
    if value is None or value == "":
        return "fill"
    return "own" if value == sender else "foreign"


def binding_failure(sender: str) -> dict[str, Any]:
    """The quarantine failure entry of a foreign row (the row's own value is in its ``values``)."""
    return {
        "expectation_type": ROW_BOUND_EXPECTATION,
        "kwargs": {DEVICE_COLUMN: sender},
        "severity": "critical",
    }


def describe_foreign(sender: str, foreign: Mapping[str, int]) -> str:
    """The refusal reason: the sender, how many rows named other devices, and which (sorted)."""
    count = sum(foreign.values())
    names = ", ".join(f"{device!r} ({n})" for device, n in sorted(foreign.items()))
    return (
        f"{count} row(s) of a file sent by device {sender!r} name other devices in {DEVICE_COLUMN}: "
        f"{names}; a device may only send its own rows"
    )

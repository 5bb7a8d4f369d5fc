"""Which device an ingestion came from: its ``source`` is ``device:<device_id>`` (pure).

The edge routes register a device's upload with that source; the pipeline reads it back to bind the
file's rows to the device (a row naming another device is never loaded as the caller's), and the
statistics group by source, so trends per device come for free.
"""

from __future__ import annotations

DEVICE_SOURCE_PREFIX = "device:"


def device_source(device_id: str) -> str:
    return DEVICE_SOURCE_PREFIX + device_id


def device_of_source(source: str | None) -> str | None:
    """The device id of a ``device:<id>`` source, else None (an upload by a person or a job)."""
    if source and source.startswith(DEVICE_SOURCE_PREFIX) and len(source) > len(DEVICE_SOURCE_PREFIX):
        return source[len(DEVICE_SOURCE_PREFIX) :]
    return None

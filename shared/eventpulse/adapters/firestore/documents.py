"""Firestore documents of the device registry: field maps, document ids, cursors and keyset scans.

Only what the npm emulator and real Firestore both do right is used here: single-field ``==`` / ``in``
/ range filters, ``order_by`` on one field and ``limit``. The emulator ignores ``start_after`` (and
treats ``== None`` as true for every document), so a keyset page is a range filter on the ordering
field, and every other filter runs here on the documents read (no composite index is needed either).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.query import Query

from eventpulse.ports.devices import Alert, Command, Device, Health, MediaObject

HEALTH_FIELDS = tuple(f.name for f in dataclasses.fields(Health))
SCAN_BATCH = 200
"""Documents read per round trip while a filtered page is filled."""


def doc_id(*parts: str) -> str:
    """A document id for any key: ids chosen by devices may hold ``/`` or be ``..``; a digest never does."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def ts(value: Any) -> datetime | None:
    """A plain UTC datetime from what the client returns (DatetimeWithNanoseconds)."""
    if value is None:
        return None
    moment: datetime = value
    return datetime(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
        moment.microsecond, tzinfo=UTC,
    )  # fmt: skip


def sort_key(at: datetime, tiebreak: str) -> str:
    """One string field that orders like ``(at, tiebreak)``: a keyset on one field needs no index."""
    return f"{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}|{tiebreak}"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key]).encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    """The key a cursor holds; ValueError for one this adapter did not make."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the cursor is not valid; pass next_cursor from the previous page") from None
    if not isinstance(key, list) or len(key) != 1 or not isinstance(key[0], str):
        raise ValueError("the cursor is not valid; pass next_cursor from the previous page")
    return key[0]


def scan_page(
    collection: CollectionReference,
    *,
    key: str,
    descending: bool,
    cursor: str | None,
    limit: int,
    match: Callable[[Mapping[str, Any]], bool],
    device_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Documents matching ``match`` ordered by the string field ``key``, one page and its next cursor.

    With ``device_id`` the device's documents are read by one equality filter and ordered here (a
    device has few); otherwise the collection is read in key order, ``SCAN_BATCH`` at a time.
    """
    after = decode_cursor(cursor)
    if device_id is not None:
        docs = (
            d.to_dict() or {}
            for d in collection.where(filter=FieldFilter("device_id", "==", device_id)).stream()
        )
        ordered = sorted(docs, key=lambda d: d[key], reverse=descending)
        if after is not None:
            ordered = [d for d in ordered if (d[key] < after if descending else d[key] > after)]
        found = [d for d in ordered if match(d)][: limit + 1]
    else:
        found = []
        for doc in _scan(collection, key=key, descending=descending, after=after):
            if match(doc):
                found.append(doc)
                if len(found) > limit:
                    break
    items = found[:limit]
    return items, (encode_cursor(items[-1][key]) if len(found) > limit and items else None)


def _scan(
    collection: CollectionReference, *, key: str, descending: bool, after: str | None
) -> Iterator[dict[str, Any]]:
    direction = Query.DESCENDING if descending else Query.ASCENDING
    while True:
        query = collection.order_by(key, direction=direction)
        if after is not None:
            query = query.where(filter=FieldFilter(key, "<" if descending else ">", after))
        batch = [d.to_dict() or {} for d in query.limit(SCAN_BATCH).stream()]
        yield from batch
        if len(batch) < SCAN_BATCH:
            return
        after = batch[-1][key]


# --- dataclass <-> document --------------------------------------------------------------------------


def health_fields(health: Health) -> dict[str, Any]:
    return dataclasses.asdict(health)


def device_fields(device: Device) -> dict[str, Any]:
    return {
        "device_id": device.device_id,
        "status": device.status,
        "created_at": device.created_at,
        "created_by": device.created_by,
        "token_hash": device.token_hash,
        "token_rotated_at": device.token_rotated_at,
        "fingerprint_hash": device.fingerprint_hash,
        "label": device.label,
        "group": device.group,
        "datasets": list(device.datasets),
        "cadence_seconds": device.cadence_seconds,
        "last_seen_at": device.last_seen_at,
        "health": health_fields(device.health),
        "revoked_at": device.revoked_at,
        "revoked_by": device.revoked_by,
        "updated_at": device.updated_at,
    }


def to_device(d: Mapping[str, Any]) -> Device:
    raw = dict(d.get("health") or {})
    raw["reported_at"] = ts(raw.get("reported_at"))
    return Device(
        device_id=d["device_id"],
        status=d["status"],
        created_at=ts(d["created_at"]),  # type: ignore[arg-type]  # always set on create
        created_by=d["created_by"],
        token_hash=d["token_hash"],
        token_rotated_at=ts(d["token_rotated_at"]),  # type: ignore[arg-type]
        fingerprint_hash=d.get("fingerprint_hash"),
        label=d.get("label", ""),
        group=d.get("group", ""),
        datasets=tuple(d.get("datasets") or ()),
        cadence_seconds=d.get("cadence_seconds"),
        last_seen_at=ts(d.get("last_seen_at")),
        health=Health(**{k: raw.get(k) for k in HEALTH_FIELDS}),
        revoked_at=ts(d.get("revoked_at")),
        revoked_by=d.get("revoked_by"),
        updated_at=ts(d.get("updated_at")),
    )


def to_alert(d: Mapping[str, Any]) -> Alert:
    return Alert(
        alert_id=d["alert_id"],
        device_id=d["device_id"],
        kind=d["kind"],
        sensor=d["sensor"],
        level=d["level"],
        message=d["message"],
        value=d.get("value"),
        limit=d.get("limit"),
        opened_at=ts(d["opened_at"]),  # type: ignore[arg-type]
        last_at=ts(d["last_at"]),  # type: ignore[arg-type]
        occurrences=int(d.get("occurrences", 1)),
        acknowledged_at=ts(d.get("acknowledged_at")),
        acknowledged_by=d.get("acknowledged_by"),
        resolved_at=ts(d.get("resolved_at")),
    )


def command_fields(c: Command) -> dict[str, Any]:
    return {
        "command_id": c.command_id,
        "device_id": c.device_id,
        "kind": c.kind,
        "params": dict(c.params),
        "status": c.status,
        "group": c.group,
        "created_by": c.created_by,
        "created_at": c.created_at,
        "expires_at": c.expires_at,
        "delivered_at": c.delivered_at,
        "finished_at": c.finished_at,
        "result": None if c.result is None else dict(c.result),
        "order_key": sort_key(c.created_at, c.command_id),
    }


def to_command(d: Mapping[str, Any]) -> Command:
    return Command(
        command_id=d["command_id"],
        device_id=d["device_id"],
        kind=d["kind"],
        params=d.get("params") or {},
        status=d["status"],
        created_by=d["created_by"],
        created_at=ts(d["created_at"]),  # type: ignore[arg-type]
        expires_at=ts(d["expires_at"]),  # type: ignore[arg-type]
        group=d.get("group", ""),
        delivered_at=ts(d.get("delivered_at")),
        finished_at=ts(d.get("finished_at")),
        result=d.get("result"),
    )


def media_fields(m: MediaObject) -> dict[str, Any]:
    return {**dataclasses.asdict(m), "order_key": sort_key(m.created_at, m.media_id)}


def to_media(d: Mapping[str, Any]) -> MediaObject:
    return MediaObject(
        media_id=d["media_id"],
        device_id=d["device_id"],
        key=d["key"],
        content_type=d["content_type"],
        size_bytes=int(d["size_bytes"]),
        created_at=ts(d["created_at"]),  # type: ignore[arg-type]
        sha256=d.get("sha256"),
        captured_at=ts(d.get("captured_at")),
    )

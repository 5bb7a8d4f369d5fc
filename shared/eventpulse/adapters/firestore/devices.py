"""The ``DeviceRegistry`` port on Cloud Firestore (the cloud's registry), tested on the npm emulator.

Only what both real Firestore and the emulator (``emulators/firestore.py``) do right is used: top-level
collections named ``<firestore_collection_prefix>device_*``, single-document reads and writes,
``create()`` (fails when the document exists), ``update()`` (fails when it does not), ``Increment``,
single-field filters and ``order_by`` + ``limit``. Not used, because the emulator gets them wrong:
transactions (no isolation), collection-group queries, ``DELETE_FIELD`` (cleared fields are written as
explicit nulls), ``BulkWriter``; nor the ``last_update_time`` precondition and batch atomicity (the
emulator ignores the first and applies half a failed batch) and ``start_after`` (ignored: keyset pages
are range filters on one ordering field, see ``documents.py``).

Every compare-and-set is therefore a ``create()`` of a claim document whose id names the transition,
so exactly one writer wins it: ``device_token_claims/<device, old token hash>`` for a token rotation,
``device_command_ends/<command>`` for a command's terminal state, ``device_alert_open/<device, kind,
sensor>`` for the one open alert of a key, ``device_alert_acks`` and ``device_alert_resolutions`` for
acknowledging and closing an alert once. The winner then writes the main document. What stays weaker
than Postgres: ``touch`` and ``delete`` are read-then-write (a heartbeat racing another may keep the
earlier ``last_seen_at``), ``set_thresholds`` replaces a scope in several writes, and filtered lists
read documents in key order and filter here (fine for a fleet's thousands; no composite index).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference

from eventpulse.adapters.firestore.documents import (
    command_fields,
    device_fields,
    doc_id,
    health_fields,
    media_fields,
    scan_page,
    sort_key,
    to_alert,
    to_command,
    to_device,
    to_media,
)
from eventpulse.ports.devices import (
    Alert,
    AlertFilter,
    AlertKind,
    AlertLevel,
    Command,
    CommandFilter,
    CommandStatus,
    Device,
    DeviceFilter,
    DevicePage,
    Health,
    MediaObject,
    Threshold,
)

if TYPE_CHECKING:
    from eventpulse.settings import Settings

UPDATABLE = {"label", "group", "datasets", "cadence_seconds", "status", "revoked_at", "revoked_by"}
FLEET = ""
"""Threshold scope of the fleet-wide defaults."""
EXPIRED = {"reason": "the device did not acknowledge it in time"}
RAISE_ATTEMPTS = 100
"""How often ``raise_alert`` retries while another writer is between its two writes (~2 s)."""


def build_firestore_client(settings: Settings) -> firestore.Client:
    """A client for Google's API, or for the emulator at ``firestore_emulator_host`` (anonymous)."""
    if not settings.firestore_emulator_host:
        return firestore.Client(project=settings.gcp_project, database=settings.firestore_database)
    from google.auth.credentials import AnonymousCredentials

    client = firestore.Client(
        project=settings.gcp_project,
        database=settings.firestore_database,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth is untyped
    )
    # The client reads FIRESTORE_EMULATOR_HOST in its constructor only; settings are our one source of
    # configuration, so the host is given here, before the first call opens the (insecure) channel.
    client._emulator_host = settings.firestore_emulator_host
    return client


class FirestoreDeviceRegistry:
    def __init__(self, client: firestore.Client, *, prefix: str = ""):
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> FirestoreDeviceRegistry:
        return cls(build_firestore_client(settings), prefix=settings.firestore_collection_prefix)

    def _col(self, name: str) -> CollectionReference:
        return self._client.collection(f"{self._prefix}{name}")

    def _device_ref(self, device_id: str) -> firestore.DocumentReference:
        return self._col("devices").document(doc_id(device_id))

    def _claim(self, collection: str, key: str, fields: Mapping[str, Any]) -> bool:
        """Create the claim document; False when another writer created it first."""
        try:
            self._col(collection).document(key).create(dict(fields))
        except gexc.AlreadyExists:
            return False
        return True

    # --- devices ----------------------------------------------------------------------------------

    def create(self, device: Device) -> bool:
        try:
            self._device_ref(device.device_id).create(device_fields(device))
        except gexc.AlreadyExists:
            return False
        return True

    def get(self, device_id: str) -> Device | None:
        snap = self._device_ref(device_id).get()
        return to_device(snap.to_dict() or {}) if snap.exists else None

    def find_by_token_hash(self, token_hash: str) -> Device | None:
        query = self._col("devices").where(filter=FieldFilter("token_hash", "==", token_hash)).limit(1)
        for snap in query.stream():
            return to_device(snap.to_dict() or {})
        return None

    def page(self, where: DeviceFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Device]:
        def match(d: Mapping[str, Any]) -> bool:
            return _device_matches(to_device(d), where)

        docs, next_cursor = scan_page(
            self._col("devices"), key="device_id", descending=False, cursor=cursor, limit=limit, match=match
        )
        return DevicePage([to_device(d) for d in docs], next_cursor)

    def set_token(
        self,
        device_id: str,
        *,
        token_hash: str,
        rotated_at: datetime,
        expected_token_hash: str | None = None,
        fingerprint_hash: str | None = None,
    ) -> bool:
        current = self.get(device_id)
        if current is None or current.status != "active":
            return False
        if expected_token_hash is not None:
            if current.token_hash != expected_token_hash:
                return False
            # One rotation away from a given token can ever win (tokens are random: never reused).
            claim = {"device_id": device_id, "token_hash": token_hash, "at": rotated_at}
            if not self._claim("device_token_claims", doc_id(device_id, expected_token_hash), claim):
                return False
        fields: dict[str, Any] = {
            "token_hash": token_hash,
            "token_rotated_at": rotated_at,
            "updated_at": rotated_at,
        }
        if fingerprint_hash is not None:
            fields["fingerprint_hash"] = fingerprint_hash
        try:
            self._device_ref(device_id).update(fields)
        except gexc.NotFound:
            return False
        return True

    def update(self, device_id: str, *, at: datetime, **fields: Any) -> Device | None:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise TypeError(f"device field(s) {sorted(unknown)} cannot be changed")
        changes: dict[str, Any] = {"updated_at": at, **fields}
        if "datasets" in fields:
            changes["datasets"] = list(fields["datasets"])
        if "label" in fields:
            changes["label_lower"] = str(fields["label"]).lower()
        try:
            self._device_ref(device_id).update(changes)
        except gexc.NotFound:
            return None
        return self.get(device_id)

    def delete(self, device_id: str) -> bool:
        ref = self._device_ref(device_id)
        existed = ref.get().exists
        ref.delete()
        for collection in (
            "device_thresholds", "device_alerts", "device_alert_open", "device_commands",
            "device_media", "device_token_claims", "device_command_ends", "device_alert_resolutions",
            "device_alert_acks",
        ):  # fmt: skip
            for snap in (
                self._col(collection).where(filter=FieldFilter("device_id", "==", device_id)).stream()
            ):
                snap.reference.delete()
        return existed

    def touch(self, device_id: str, *, at: datetime, health: Health | None = None) -> None:
        current = self.get(device_id)
        if current is None:
            return
        changes: dict[str, Any] = {}
        if current.last_seen_at is None or at > current.last_seen_at:
            changes["last_seen_at"] = at
        if health is not None:
            changes["health"] = health_fields(health)
        if changes:
            try:
                self._device_ref(device_id).update(changes)
            except gexc.NotFound:
                pass  # deleted meanwhile: nothing to record

    # --- thresholds -------------------------------------------------------------------------------

    def set_thresholds(self, device_id: str | None, thresholds: Sequence[Threshold]) -> None:
        scope = FLEET if device_id is None else device_id
        col = self._col("device_thresholds")
        keep = {t.sensor for t in thresholds}
        for t in thresholds:
            col.document(doc_id(scope, t.sensor)).set(
                {"device_id": scope, "sensor": t.sensor, "direction": t.direction,
                 "warning": t.warning, "critical": t.critical}
            )  # fmt: skip
        for snap in col.where(filter=FieldFilter("device_id", "==", scope)).stream():
            if (snap.to_dict() or {}).get("sensor") not in keep:
                snap.reference.delete()

    def thresholds(self, device_id: str | None) -> list[Threshold]:
        scope = FLEET if device_id is None else device_id
        rows = [
            snap.to_dict() or {}
            for snap in self._col("device_thresholds")
            .where(filter=FieldFilter("device_id", "==", scope))
            .stream()
        ]
        return sorted(
            (Threshold(r["sensor"], r["direction"], r.get("warning"), r.get("critical")) for r in rows),
            key=lambda t: t.sensor,
        )

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
        open_ref = self._col("device_alert_open").document(doc_id(device_id, kind, sensor))
        for _ in range(RAISE_ATTEMPTS):
            snap = open_ref.get()
            if not snap.exists:
                alert_id = str(uuid.uuid4())
                if not self._claim(
                    "device_alert_open", open_ref.id, {"alert_id": alert_id, "device_id": device_id}
                ):
                    continue  # another writer opened it first: update theirs
                fields = {
                    "alert_id": alert_id, "device_id": device_id, "kind": kind, "sensor": sensor,
                    "level": level, "message": message, "value": value, "limit": limit,
                    "opened_at": at, "last_at": at, "occurrences": 1, "acknowledged_at": None,
                    "acknowledged_by": None, "resolved_at": None, "order_key": sort_key(at, alert_id),
                }  # fmt: skip
                self._col("device_alerts").document(alert_id).create(fields)
                return to_alert(fields)
            alert_ref = self._col("device_alerts").document((snap.to_dict() or {})["alert_id"])
            current = alert_ref.get()
            if not current.exists:
                time.sleep(0.02)  # its opener is between the claim and the alert: wait for it
                continue
            changes: dict[str, Any] = {
                "level": level, "message": message, "value": value, "limit": limit,
                "occurrences": firestore.Increment(1),
            }  # fmt: skip
            if at > to_alert(current.to_dict() or {}).last_at:
                changes["last_at"] = at
            alert_ref.update(changes)
            return to_alert(alert_ref.get().to_dict() or {})
        raise RuntimeError(f"the open alert of {device_id}/{kind}/{sensor!r} did not appear; retry")

    def resolve_alerts(self, *, device_id: str, kind: AlertKind, sensor: str, at: datetime) -> int:
        open_ref = self._col("device_alert_open").document(doc_id(device_id, kind, sensor))
        snap = open_ref.get()
        if not snap.exists:
            return 0
        alert_id = (snap.to_dict() or {})["alert_id"]
        if not self._claim("device_alert_resolutions", alert_id, {"device_id": device_id, "at": at}):
            return 0  # another resolver closed it
        # Key first: a raise that still sees it counts on this alert, as if it came just before.
        open_ref.delete()
        try:
            self._col("device_alerts").document(alert_id).update({"resolved_at": at})
        except gexc.NotFound:
            return 0
        return 1

    def alerts(self, where: AlertFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Alert]:
        def match(d: Mapping[str, Any]) -> bool:
            return (
                (not where.open_only or d.get("resolved_at") is None)
                and (not where.unacknowledged_only or d.get("acknowledged_at") is None)
                and (where.kind is None or d.get("kind") == where.kind)
                and (where.level is None or d.get("level") == where.level)
            )

        docs, next_cursor = scan_page(
            self._col("device_alerts"), key="order_key", descending=True, cursor=cursor, limit=limit,
            match=match, device_id=where.device_id,
        )  # fmt: skip
        return DevicePage([to_alert(d) for d in docs], next_cursor)

    def acknowledge_alert(self, alert_id: str, *, actor: str, at: datetime) -> Alert | None:
        try:
            key = str(uuid.UUID(alert_id))
        except ValueError:
            return None
        ref = self._col("device_alerts").document(key)
        snap = ref.get()
        if not snap.exists:
            return None
        claim = {"actor": actor, "at": at, "device_id": (snap.to_dict() or {}).get("device_id")}
        if self._claim("device_alert_acks", key, claim):
            ref.update({"acknowledged_at": at, "acknowledged_by": actor})
            return to_alert(ref.get().to_dict() or {})
        first = self._col("device_alert_acks").document(key).get().to_dict() or {}
        current = {
            **(ref.get().to_dict() or {}),
            "acknowledged_at": first["at"],
            "acknowledged_by": first["actor"],
        }
        return to_alert(current)

    # --- commands ---------------------------------------------------------------------------------

    def queue_command(self, command: Command) -> None:
        self._col("device_commands").document(doc_id(command.command_id)).create(command_fields(command))

    def get_command(self, command_id: str) -> Command | None:
        snap = self._col("device_commands").document(doc_id(command_id)).get()
        return to_command(snap.to_dict() or {}) if snap.exists else None

    def deliver_commands(self, device_id: str, *, now: datetime, limit: int) -> list[Command]:
        col = self._col("device_commands")
        due = [
            c
            for c in (
                to_command(s.to_dict() or {})
                for s in col.where(filter=FieldFilter("device_id", "==", device_id)).stream()
            )
            if c.status in ("queued", "delivered") and c.expires_at > now
        ]
        due = sorted(due, key=lambda c: (c.created_at, c.command_id))[:limit]
        for c in due:
            if c.status == "queued":
                col.document(doc_id(c.command_id)).update({"status": "delivered", "delivered_at": now})
        # A finisher claims its end before writing it: one that won while we wrote wins again here.
        ends = self._client.get_all(
            [self._col("device_command_ends").document(doc_id(c.command_id)) for c in due]
        )
        ended = {s.id: s.to_dict() or {} for s in ends if s.exists}
        handed: list[Command] = []
        for c in due:
            end = ended.get(doc_id(c.command_id))
            if end is not None:
                col.document(doc_id(c.command_id)).update(end)
                continue
            stored = self.get_command(c.command_id)
            if stored is not None:
                handed.append(stored)
        return handed

    def finish_command(
        self,
        command_id: str,
        *,
        expected: Sequence[CommandStatus],
        status: CommandStatus,
        at: datetime,
        result: Mapping[str, Any] | None = None,
    ) -> Command | None:
        current = self.get_command(command_id)
        if current is None or current.status not in expected:
            return None
        end = {"status": status, "finished_at": at, "result": None if result is None else dict(result)}
        if not self._claim(
            "device_command_ends", doc_id(command_id), {**end, "device_id": current.device_id}
        ):
            return None  # another writer ended it first
        ref = self._col("device_commands").document(doc_id(command_id))
        ref.update(end)
        return to_command(ref.get().to_dict() or {})

    def commands(self, where: CommandFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Command]:
        def match(d: Mapping[str, Any]) -> bool:
            return where.status is None or d.get("status") == where.status

        docs, next_cursor = scan_page(
            self._col("device_commands"), key="order_key", descending=True, cursor=cursor, limit=limit,
            match=match, device_id=where.device_id,
        )  # fmt: skip
        return DevicePage([to_command(d) for d in docs], next_cursor)

    def expire_commands(self, *, now: datetime) -> int:
        query = self._col("device_commands").where(
            filter=FieldFilter("status", "in", ["queued", "delivered"])
        )
        due = [c for c in (to_command(s.to_dict() or {}) for s in query.stream()) if c.expires_at <= now]
        expired = 0
        for c in due:
            done = self.finish_command(
                c.command_id, expected=("queued", "delivered"), status="expired", at=now, result=EXPIRED
            )
            expired += done is not None
        return expired

    # --- media ------------------------------------------------------------------------------------

    def add_media(self, media: MediaObject) -> bool:
        return self._claim("device_media", doc_id(media.key), media_fields(media))

    def media(
        self, device_id: str | None, *, limit: int, cursor: str | None = None
    ) -> DevicePage[MediaObject]:
        docs, next_cursor = scan_page(
            self._col("device_media"), key="order_key", descending=True, cursor=cursor, limit=limit,
            match=lambda d: True, device_id=device_id,
        )  # fmt: skip
        return DevicePage([to_media(d) for d in docs], next_cursor)

    # --- health -----------------------------------------------------------------------------------

    def is_reachable(self) -> bool:
        try:
            self._col("devices").document("_reachability").get(timeout=5, retry=None)
        except gexc.GoogleAPIError:
            return False
        return True

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # the client is untyped


def _device_matches(device: Device, where: DeviceFilter) -> bool:
    if where.status is not None and device.status != where.status:
        return False
    if where.group is not None and device.group != where.group:
        return False
    if where.search:
        prefix = where.search.lower()
        if not (device.device_id.lower().startswith(prefix) or device.label.lower().startswith(prefix)):
            return False
    seen = device.last_seen_at
    if where.seen_before is not None and seen is not None and seen >= where.seen_before:
        return False
    return where.seen_after is None or (seen is not None and seen >= where.seen_after)

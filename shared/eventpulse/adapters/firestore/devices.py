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
A writer killed between a claim and its main write leaves the claim: an open-alert claim without its
alert is taken over by the next raise, a command end is reapplied by the next ``deliver_commands``;
a token-rotation claim stays (that old token can no longer be rotated from; an admin rotation can).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from eventpulse.adapters.firestore.alerts import AlertsOnFirestore
from eventpulse.adapters.firestore.client import build_firestore_client
from eventpulse.adapters.firestore.commands import CommandsOnFirestore
from eventpulse.adapters.firestore.documents import (
    device_fields,
    doc_id,
    health_fields,
    media_fields,
    scan_page,
    to_device,
    to_media,
)
from eventpulse.ports.devices import (
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


class FirestoreDeviceRegistry(AlertsOnFirestore, CommandsOnFirestore):
    @classmethod
    def from_settings(cls, settings: Settings) -> FirestoreDeviceRegistry:
        return cls(build_firestore_client(settings), prefix=settings.firestore_collection_prefix)

    def _device_ref(self, device_id: str) -> firestore.DocumentReference:
        return self._col("devices").document(doc_id(device_id))

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

"""Alerts on Firestore: one open alert per (device, kind, sensor) through a claim document."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from eventpulse.adapters.firestore.client import Collections
from eventpulse.adapters.firestore.documents import doc_id, scan_page, sort_key, to_alert
from eventpulse.ports.devices import Alert, AlertFilter, AlertKind, AlertLevel, DevicePage

RAISE_ATTEMPTS = 100
"""How often ``raise_alert`` reads the open alert's key again while writers race on it."""
ADOPT_AFTER = 25
"""Reads (20 ms apart) after which a claimed key whose alert never appeared is taken over."""
LOCK_TTL = timedelta(seconds=30)
"""An alert lock older than this was left by a holder that died (``_alert_lock``)."""
LOCK_ATTEMPTS = 2000
"""Tries (2-10 ms apart) to take an alert's lock before giving up: about 12 s."""


class AlertsOnFirestore(Collections):
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
        for attempt in range(RAISE_ATTEMPTS):
            snap = open_ref.get()
            if not snap.exists:
                alert_id = str(uuid.uuid4())
                claim = {"alert_id": alert_id, "device_id": device_id}
                if not self._claim("device_alert_open", open_ref.id, claim):
                    continue  # another writer opened it first: update theirs
            else:
                alert_id = (snap.to_dict() or {})["alert_id"]
                current = self._col("device_alerts").document(alert_id).get()
                if current.exists:
                    return self._observe(alert_id, current.to_dict() or {}, level, message, value, limit, at)
                if attempt < ADOPT_AFTER:
                    time.sleep(0.02)  # its opener is between the claim and the alert: wait for it
                    continue
                # The opener died between its two writes: open the alert it claimed in its place.
            fields = {
                "alert_id": alert_id, "device_id": device_id, "kind": kind, "sensor": sensor,
                "level": level, "message": message, "value": value, "limit": limit,
                "opened_at": at, "last_at": at, "occurrences": 1, "acknowledged_at": None,
                "acknowledged_by": None, "resolved_at": None, "order_key": sort_key(at, alert_id),
            }  # fmt: skip
            if self._claim("device_alerts", alert_id, fields):
                return to_alert(fields)
            # Someone adopted our claim (we were slow) or opened it first: count on theirs next time.
        raise RuntimeError(f"the open alert of {device_id}/{kind}/{sensor!r} did not settle; retry")

    def _observe(
        self,
        alert_id: str,
        current: Mapping[str, Any],
        level: AlertLevel,
        message: str,
        value: float | None,
        limit: float | None,
        at: datetime,
    ) -> Alert:
        """One more occurrence on the open alert: its level, message and values are the latest written.

        ``last_at`` is the newest occurrence even when raisers race: it is read and written under
        the alert's lock (``_alert_lock``), since an unguarded read-then-write lets a slower raiser
        put an older time back. Real Firestore would do this in a transaction or with the
        ``Maximum`` transform; the emulator isolates no transaction, gets ``Maximum`` wrong and has
        no ``ArrayUnion``, so neither could be tested here.
        """
        ref = self._col("device_alerts").document(alert_id)
        changes: dict[str, Any] = {
            "level": level, "message": message, "value": value, "limit": limit,
            "occurrences": firestore.Increment(1),
        }  # fmt: skip
        with self._alert_lock(alert_id):
            latest = to_alert(ref.get().to_dict() or current).last_at
            if at > latest:
                changes["last_at"] = at
            ref.update(changes)
            return to_alert(ref.get().to_dict() or {})

    @contextmanager
    def _alert_lock(self, alert_id: str) -> Iterator[None]:
        """Hold the alert's lock document: created with ``create()``, so one holder at a time.

        A lock older than ``LOCK_TTL`` belongs to a holder that died: one waiter takes it over, by
        claiming that lock's nonce (``create()`` again), and the others keep waiting. The holder
        deletes the lock only while it still carries its own nonce.
        """
        ref = self._col("device_alert_locks").document(alert_id)
        nonce = uuid.uuid4().hex
        for _ in range(LOCK_ATTEMPTS):
            mine = {"nonce": nonce, "expires_at": datetime.now(UTC) + LOCK_TTL}
            if self._claim("device_alert_locks", alert_id, mine):
                break
            held = ref.get().to_dict()
            if held is not None and held["expires_at"] < datetime.now(UTC):
                if self._claim("device_alert_lock_takeovers", held["nonce"], {"by": nonce}):
                    ref.set(mine)
                    break
            time.sleep(random.uniform(0.002, 0.01))
        else:
            raise RuntimeError(f"the lock of alert {alert_id} stayed held; retry")
        try:
            yield
        finally:
            held = ref.get().to_dict()
            if held is not None and held.get("nonce") == nonce:
                ref.delete()

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

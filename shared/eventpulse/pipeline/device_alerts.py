"""Apply alert decisions to the device registry: after an ``edge_telemetry`` load, and for the sweep.

Runs after the load transaction committed, never inside it: the registry shares no transaction with
the metadata store (its cloud adapter is Firestore), and an alert that cannot be raised must not undo
or fail a load. ``evaluate_after_load`` therefore logs its own failure and returns.

The rules are pure (``devices/alerts.py``); this module reads thresholds, devices and the loaded rows,
writes the registry, then audits (``device.alert_raised``, ``device.alert_resolved``) and logs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from eventpulse.curate.ddl import curated_table_name
from eventpulse.devices.alerts import AlertDecisions, Reading, decide_threshold_alerts, merge_thresholds
from eventpulse.devices.binding import device_of_source
from eventpulse.logs import log_context
from eventpulse.ports.devices import AlertFilter, AlertKind, Threshold

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services

log = logging.getLogger(__name__)

TELEMETRY_DATASET = "edge_telemetry"
MAX_EVALUATED_ROWS = 200_000
"""Rows of one ingestion read for alerts; a larger file is evaluated on its first rows (logged)."""
READING_COLUMNS = ("device_id", "sensor", "value", "ts")


@dataclass(frozen=True)
class AlertOutcome:
    raised: int = 0
    resolved: int = 0
    ignored_values: int = 0


def apply_alert_decisions(
    services: Services, decisions: AlertDecisions, *, actor: str, ingestion_id: uuid.UUID | None = None
) -> AlertOutcome:
    """Raise, then resolve, in the registry; audit and log each alert raised and each one closed."""
    registry = services.devices
    raised = resolved = 0
    for decision in decisions.raises:
        alert = registry.raise_alert(
            device_id=decision.device_id,
            kind=decision.kind,
            sensor=decision.sensor,
            level=decision.level,
            message=decision.message,
            value=decision.value,
            limit=decision.limit,
            at=decision.at,
        )
        details = {
            "alert_id": alert.alert_id,
            "kind": alert.kind,
            "sensor": alert.sensor,
            "level": alert.level,
            "value": alert.value,
            "limit": alert.limit,
            "occurrences": alert.occurrences,
            **({"ingestion_id": str(ingestion_id)} if ingestion_id else {}),
        }
        _audit(services, actor, "device.alert_raised", decision.device_id, details)
        with log_context(device_id=decision.device_id, alert_id=alert.alert_id):
            log.warning("device %s alert %s: %s", decision.device_id, alert.level, alert.message)
        raised += 1
    for resolve in decisions.resolves:
        closed = registry.resolve_alerts(
            device_id=resolve.device_id, kind=resolve.kind, sensor=resolve.sensor, at=resolve.at
        )
        if closed:
            details = {"kind": resolve.kind, "sensor": resolve.sensor, "at": resolve.at.isoformat()}
            _audit(services, actor, "device.alert_resolved", resolve.device_id, details)
            with log_context(device_id=resolve.device_id):
                log.info("device %s %s alert resolved %s", resolve.device_id, resolve.kind, resolve.sensor)
            resolved += closed
    return AlertOutcome(raised, resolved, decisions.ignored_values)


def load_open_alert_keys(
    services: Services, *, kind: AlertKind, device_id: str | None = None
) -> set[tuple[str, str]]:
    """(device, sensor) of the open alerts of a kind: only those need a resolve (a write each)."""
    keys: set[tuple[str, str]] = set()
    cursor: str | None = None
    where = AlertFilter(device_id=device_id, open_only=True, kind=kind)
    while True:
        page = services.devices.alerts(where, limit=500, cursor=cursor)
        keys.update((a.device_id, a.sensor) for a in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return keys


def only_open_resolves(decisions: AlertDecisions, open_keys: set[tuple[str, str]]) -> AlertDecisions:
    """The decisions without resolves of keys that have no open alert (nothing to close)."""
    raised = {(r.device_id, r.sensor) for r in decisions.raises}
    kept = [r for r in decisions.resolves if (r.device_id, r.sensor) in open_keys | raised]
    return replace(decisions, resolves=kept)


def _audit(
    services: Services, actor: str, action: str, device_id: str, details: Mapping[str, object]
) -> None:
    with services.store.transaction() as tx:
        tx.audit.record(
            actor=actor, action=action, entity_type="device", entity_id=device_id, details=details
        )


def load_readings(services: Services, ingestion_id: uuid.UUID) -> list[Reading]:
    """The ``reading`` rows an ingestion loaded into the curated telemetry table."""
    with services.store.read() as tx:
        rows = tx.curated.rows_of_ingestion(
            curated_table_name(TELEMETRY_DATASET),
            ingestion_id,
            columns=READING_COLUMNS,
            where={"event_type": "reading"},
            limit=MAX_EVALUATED_ROWS,
        )
    if len(rows) >= MAX_EVALUATED_ROWS:
        log.warning("ingestion %s: alerts evaluated on its first %d rows only", ingestion_id, len(rows))
    return [
        Reading(str(r["device_id"]), str(r["sensor"]), r["value"], r["ts"])
        for r in rows
        if r["device_id"] and r["sensor"] and isinstance(r["ts"], datetime)
    ]


def load_thresholds(services: Services, device_ids: set[str]) -> dict[str, dict[str, Threshold]]:
    """The thresholds that apply to each registered device (a device unknown to the registry has none)."""
    registry = services.devices
    fleet = registry.thresholds(None)
    applying: dict[str, dict[str, Threshold]] = {}
    for device_id in sorted(device_ids):
        if registry.get(device_id) is None:
            continue
        merged = merge_thresholds(fleet, registry.thresholds(device_id))
        if merged:
            applying[device_id] = merged
    return applying


def evaluate_ingestion(services: Services, ingestion_id: uuid.UUID) -> AlertOutcome:
    """Raise and resolve threshold alerts for the rows an ``edge_telemetry`` ingestion loaded."""
    readings = load_readings(services, ingestion_id)
    thresholds = load_thresholds(services, {r.device_id for r in readings})
    if not thresholds:
        return AlertOutcome()
    decisions = decide_threshold_alerts(readings, thresholds)
    open_keys: set[tuple[str, str]] = set()
    for device_id in {r.device_id for r in decisions.resolves}:
        open_keys |= load_open_alert_keys(services, kind="threshold", device_id=device_id)
    decisions = only_open_resolves(decisions, open_keys)
    if decisions.ignored_values:
        log.info(
            "ingestion %s: %d non-numeric reading(s) ignored by alerts",
            ingestion_id,
            decisions.ignored_values,
        )
    return apply_alert_decisions(services, decisions, actor="alerts", ingestion_id=ingestion_id)


def is_unwatched_sender(services: Services, source: str | None) -> bool:
    """True when a device sent the file and neither the fleet nor that device has a threshold (rows of
    a device-bound file are all the sender's, so no reading can alert)."""
    device_id = device_of_source(source)
    if device_id is None or services.devices.thresholds(None):
        return False
    return not services.devices.thresholds(device_id)


def evaluate_after_load(services: Services, row: Row) -> AlertOutcome | None:
    """``evaluate_ingestion`` for a loaded telemetry ingestion; a failure is logged, never raised."""
    if str(row["dataset"]) != TELEMETRY_DATASET:
        return None
    ingestion_id = uuid.UUID(str(row["id"]))
    try:
        if is_unwatched_sender(services, row.get("source")):
            return AlertOutcome()  # the common case without thresholds reads no rows
        return evaluate_ingestion(services, ingestion_id)
    except Exception as exc:  # the load is committed: an alert failure must not fail the ingestion
        log.error("ingestion %s: alert evaluation failed: %s", ingestion_id, exc, exc_info=exc)
        return None

"""The device sweep: silent devices raise ``silent`` alerts, devices heard again resolve them, and
commands past their expiry become ``expired``.

Run on a schedule (``jobs/device_sweep/main.py``, ``eventpulse devices sweep``): silence is the absence
of an event, so no request can notice it; only a clock can.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventpulse.devices.alerts import decide_silence, is_offline
from eventpulse.jobs.audit import record_job_run
from eventpulse.pipeline.device_alerts import (
    apply_alert_decisions,
    load_open_alert_keys,
    only_open_resolves,
)
from eventpulse.ports.devices import Device, DeviceFilter

if TYPE_CHECKING:
    from eventpulse.ports import Services

log = logging.getLogger(__name__)

PAGE = 500
JOB = "device_sweep"


@dataclass(frozen=True)
class SweepReport:
    devices: int
    offline: int
    silent_raised: int
    silent_resolved: int
    commands_expired: int

    def summary(self) -> str:
        return (
            f"devices: {self.devices} checked, {self.offline} offline; silent alerts: "
            f"{self.silent_raised} raised, {self.silent_resolved} resolved; "
            f"commands expired: {self.commands_expired}"
        )


def load_devices(services: Services) -> list[Device]:
    """Every registered device, page by page."""
    devices: list[Device] = []
    cursor: str | None = None
    while True:
        page = services.devices.page(DeviceFilter(), limit=PAGE, cursor=cursor)
        devices.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return devices


def sweep_devices(services: Services, *, actor: str) -> SweepReport:
    """Raise and resolve silent alerts for every device, then expire overdue commands."""
    settings, now = services.settings, services.clock.now()
    devices = load_devices(services)
    decisions = decide_silence(
        devices,
        now=now,
        default_cadence_seconds=settings.device_cadence_seconds,
        grace=settings.device_silent_grace,
    )
    decisions = only_open_resolves(decisions, load_open_alert_keys(services, kind="silent"))
    outcome = apply_alert_decisions(services, decisions, actor=actor)
    expired = services.devices.expire_commands(now=now)
    offline = sum(
        is_offline(d, now=now, offline_after_seconds=settings.device_offline_after_seconds)
        for d in devices
        if d.status == "active"
    )
    report = SweepReport(len(devices), offline, outcome.raised, outcome.resolved, expired)
    record_job_run(services, job=JOB, actor=actor, details=dataclasses.asdict(report))
    log.info("device sweep: %s", report.summary())
    return report

"""Alerts on the real pipeline, registry and Postgres: thresholds after a telemetry load, and the sweep.

Rules: ``devices/alerts.py``; docs: docs/API.md#alerts.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventpulse.devices.binding import device_source
from eventpulse.devices.tokens import token_hash
from eventpulse.jobs.device_sweep import sweep_devices
from eventpulse.landing.register import register_path
from eventpulse.ports.devices import Alert, AlertFilter, Command, CommandFilter, Device, Threshold
from eventpulse.states import Status

HEADER = "event_id,device_id,event_type,sensor,value,units,ts"
FLEET_TEMP = Threshold(sensor="temp", direction="above", warning=30, critical=40)


def add_device(services: Any, device_id: str, **changes: Any) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "device_id": device_id,
        "status": "active",
        "created_at": now - timedelta(days=1),
        "created_by": "token:admin",
        "token_hash": token_hash("pepper", f"token-{device_id}"),
        "token_rotated_at": now,
    }
    values.update(changes)
    assert services.devices.create(Device(**values))


def send(services: Any, tmp_path: Path, device: str, readings: list[tuple[str, object, str]]) -> Any:
    """Ingest one device-bound telemetry file of (sensor, value, ts) readings through the pipeline."""
    lines = [HEADER]
    for sensor, value, ts in readings:
        lines.append(f"{uuid.uuid4()},{device},reading,{sensor},{value},C,{ts}")
    lines.append(f"{uuid.uuid4()},{device},heartbeat,,,,2026-01-01T00:09:00")
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_text("\n".join(lines) + "\n")
    registration = register_path(
        services, path=path, dataset="edge_telemetry", source=device_source(device), actor=f"device:{device}"
    )
    with services.store.read() as tx:
        row = tx.ingestions.get(registration.ingestion["id"])
    assert row is not None and row["status"] == Status.LOADED, row and row.get("error")
    return row


def alerts(services: Any, device_id: str, **where: Any) -> list[Alert]:
    return services.devices.alerts(AlertFilter(device_id=device_id, **where), limit=50).items


def audited(services: Any, action: str, device_id: str) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        return list(tx.audit.page(action=action, entity_id=device_id, limit=50).items)


def test_a_telemetry_file_over_the_limits_raises_alerts_and_a_normal_one_resolves_them(
    services: Any, tmp_path: Path
):
    add_device(services, "pump-1")
    pressure = Threshold(sensor="psi", direction="below", warning=20, critical=10)
    services.devices.set_thresholds(None, [FLEET_TEMP, pressure])
    row = send(
        services,
        tmp_path,
        "pump-1",
        [
            ("temp", 35, "2026-01-01T00:01:00"),
            ("temp", 45, "2026-01-01T00:02:00"),
            ("temp", 41, "2026-01-01T00:03:00"),
            ("psi", 15, "2026-01-01T00:01:00"),
            ("humidity", 99, "2026-01-01T00:01:00"),  # no threshold: no alert
        ],
    )

    opened = {a.sensor: a for a in alerts(services, "pump-1", open_only=True)}
    assert set(opened) == {"temp", "psi"}
    temp = opened["temp"]
    assert (temp.kind, temp.level, temp.value, temp.limit) == ("threshold", "critical", 45, 40)
    assert temp.last_at == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)  # when the worst reading was taken
    assert (opened["psi"].level, opened["psi"].value) == ("warning", 15)
    raised = audited(services, "device.alert_raised", "pump-1")
    assert len(raised) == 2 and {e["actor"] for e in raised} == {"alerts"}
    assert {e["details"]["ingestion_id"] for e in raised} == {str(row["id"])}

    send(services, tmp_path, "pump-1", [("temp", 31, "2026-01-01T01:00:00")])  # still beyond warning
    temp = next(a for a in alerts(services, "pump-1", open_only=True) if a.sensor == "temp")
    assert (temp.level, temp.value, temp.occurrences) == ("warning", 31, 2)  # updated, not duplicated

    send(
        services,
        tmp_path,
        "pump-1",
        [("temp", 20, "2026-01-01T02:00:00"), ("psi", 50, "2026-01-01T02:00:00")],
    )
    assert alerts(services, "pump-1", open_only=True) == []
    history = alerts(services, "pump-1")
    assert len(history) == 2 and all(a.resolved_at is not None for a in history)
    assert len(audited(services, "device.alert_resolved", "pump-1")) == 2


def test_a_device_threshold_overrides_the_fleet(services: Any, tmp_path: Path):
    add_device(services, "hot-1")
    add_device(services, "std-1")
    services.devices.set_thresholds(None, [FLEET_TEMP])
    services.devices.set_thresholds("hot-1", [Threshold(sensor="temp", warning=60, critical=80)])

    send(services, tmp_path, "hot-1", [("temp", 45, "2026-01-01T00:01:00")])
    send(services, tmp_path, "std-1", [("temp", 45, "2026-01-01T00:01:00")])
    assert alerts(services, "hot-1") == []  # 45 is within hot-1's own limits
    assert [a.level for a in alerts(services, "std-1")] == ["critical"]

    send(services, tmp_path, "hot-1", [("temp", 85, "2026-01-01T00:02:00")])
    assert [(a.level, a.limit) for a in alerts(services, "hot-1")] == [("critical", 80)]


def test_an_unregistered_device_and_a_fleet_without_thresholds_raise_nothing(services: Any, tmp_path: Path):
    add_device(services, "quiet-1")
    send(services, tmp_path, "quiet-1", [("temp", 999, "2026-01-01T00:01:00")])  # no thresholds at all
    services.devices.set_thresholds(None, [FLEET_TEMP])
    send(services, tmp_path, "ghost-1", [("temp", 999, "2026-01-01T00:01:00")])  # not in the registry
    assert alerts(services, "quiet-1") == [] and alerts(services, "ghost-1") == []


def test_a_failing_evaluation_leaves_the_ingestion_loaded_and_is_logged(
    services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    add_device(services, "pump-1")
    services.devices.set_thresholds(None, [FLEET_TEMP])

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("registry down")

    monkeypatch.setattr(services.devices, "thresholds", broken)
    with caplog.at_level(logging.ERROR, logger="eventpulse.pipeline.device_alerts"):
        row = send(services, tmp_path, "pump-1", [("temp", 45, "2026-01-01T00:01:00")])
    assert row["status"] == Status.LOADED and row["rows_loaded"] == 2
    assert any(
        "alert evaluation failed" in r.getMessage() and "registry down" in r.getMessage()
        for r in caplog.records
    )


def test_the_sweep_raises_silent_for_a_quiet_device_and_resolves_it_when_heard(services: Any):
    now = datetime.now(UTC)
    cadence = services.settings.device_cadence_seconds
    add_device(services, "slow-1", cadence_seconds=60)
    add_device(services, "fleet-1")  # the fleet cadence
    add_device(services, "fresh-1", cadence_seconds=60)
    add_device(services, "gone-1", status="revoked")
    services.devices.touch("slow-1", at=now - timedelta(seconds=150))  # > 60 x 2
    services.devices.touch("fleet-1", at=now - timedelta(seconds=cadence * 5))  # > twice the allowed
    services.devices.touch("fresh-1", at=now - timedelta(seconds=30))

    report = sweep_devices(services, actor="job:test")
    assert (report.devices, report.silent_raised) == (4, 2)
    slow = alerts(services, "slow-1", open_only=True)
    assert [(a.kind, a.sensor, a.level, a.limit) for a in slow] == [("silent", "", "warning", 120)]
    assert [a.level for a in alerts(services, "fleet-1", open_only=True)] == ["critical"]
    assert alerts(services, "fresh-1") == [] and alerts(services, "gone-1") == []
    events = audited(services, "device.alert_raised", "slow-1")
    assert [(e["actor"], e["details"]["kind"]) for e in events] == [("job:test", "silent")]

    sweep_devices(services, actor="job:test")  # still silent: the open alert is updated
    assert [a.occurrences for a in alerts(services, "slow-1")] == [2]

    services.devices.touch("slow-1", at=datetime.now(UTC))  # a heartbeat
    report = sweep_devices(services, actor="job:test")
    assert report.silent_resolved == 1
    assert alerts(services, "slow-1", open_only=True) == []
    assert alerts(services, "slow-1")[0].resolved_at is not None


def test_the_sweep_expires_old_commands(services: Any):
    now = datetime.now(UTC)
    add_device(services, "pump-1")
    services.devices.touch("pump-1", at=now)
    for name, expires in (("old", now - timedelta(minutes=1)), ("new", now + timedelta(hours=1))):
        services.devices.queue_command(
            Command(
                command_id=f"cmd-{name}-{uuid.uuid4().hex[:8]}",
                device_id="pump-1",
                kind="restart_agent",
                params={},
                status="queued",
                created_by="token:admin",
                created_at=now - timedelta(hours=2),
                expires_at=expires,
            )
        )
    report = sweep_devices(services, actor="job:test")
    assert report.commands_expired == 1
    statuses = {
        c.command_id.split("-")[1]: c.status
        for c in services.devices.commands(CommandFilter(device_id="pump-1"), limit=10).items
    }
    assert statuses == {"old": "expired", "new": "queued"}
    with services.store.read() as tx:
        runs = tx.audit.page(action="job.device_sweep", limit=5).items
    assert [(e["actor"], e["details"]["commands_expired"]) for e in runs] == [("job:test", 1)]


def test_the_cli_and_the_cloud_run_job_run_the_sweep(
    services: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from click.testing import CliRunner

    from eventpulse import runtime
    from eventpulse.cli import main as cli_main
    from tests.integration.test_jobs import _env, _job_main

    add_device(services, "slow-1", cadence_seconds=60)
    services.devices.touch("slow-1", at=datetime.now(UTC) - timedelta(seconds=150))
    result = CliRunner().invoke(cli_main, ["devices", "sweep"], env=_env(services))
    assert result.exit_code == 0, result.output
    assert "1 raised" in result.output
    assert [e["actor"] for e in audited(services, "device.alert_raised", "slow-1")] == ["cli"]

    for key, value in _env(services).items():
        monkeypatch.setenv(key, value)
    try:
        assert _job_main("device_sweep")([]) == 0
    finally:
        runtime.close_services()
    assert "silent alerts: 1 raised" in capsys.readouterr().out  # still silent: raised (updated) again
    actors = [e["actor"] for e in audited(services, "device.alert_raised", "slow-1")]
    assert sorted(actors) == ["cli", "job:device_sweep"]
    assert [a.occurrences for a in alerts(services, "slow-1")] == [2]

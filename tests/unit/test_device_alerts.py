"""Alert evaluation rules (``devices/alerts.py``): thresholds, worst reading, resolution, silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventpulse.devices.alerts import (
    Reading,
    decide_level,
    decide_silence,
    decide_threshold_alerts,
    is_offline,
    merge_thresholds,
)
from eventpulse.ports.devices import Device, Threshold

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEMP = Threshold(sensor="temp", direction="above", warning=30, critical=40)
PRESSURE = Threshold(sensor="psi", direction="below", warning=20, critical=10)
FLEET = {"temp": TEMP, "psi": PRESSURE}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def device(device_id: str = "pump-1", *, seen: datetime | None, cadence: float | None = None, **kw) -> Device:  # type: ignore[no-untyped-def]
    return Device(
        device_id=device_id,
        status=kw.get("status", "active"),
        created_at=kw.get("created_at", T0),
        created_by="enroll",
        token_hash="x",
        token_rotated_at=T0,
        cadence_seconds=cadence,
        last_seen_at=seen,
    )


def test_levels_follow_the_direction_and_critical_wins():
    assert decide_level(TEMP, 30) is None  # at the limit is within bounds
    assert decide_level(TEMP, 31) == ("warning", 30)
    assert decide_level(TEMP, 41) == ("critical", 40)
    assert decide_level(PRESSURE, 15) == ("warning", 20)
    assert decide_level(PRESSURE, 5) == ("critical", 10)
    assert decide_level(Threshold(sensor="x", critical=5), 4) is None
    assert decide_level(Threshold(sensor="x", critical=5), 6) == ("critical", 5)


def test_a_device_threshold_overrides_the_fleet_for_its_sensor_only():
    own = Threshold(sensor="temp", warning=50, critical=60)
    merged = merge_thresholds(FLEET.values(), [own])
    assert merged["temp"] == own and merged["psi"] == PRESSURE


def test_one_alert_per_device_and_sensor_with_the_worst_value_and_when():
    readings = [
        Reading("pump-1", "temp", 35, at(1)),
        Reading("pump-1", "temp", 45, at(2)),
        Reading("pump-1", "temp", 42, at(3)),
        Reading("pump-2", "psi", 15, at(1)),
    ]
    decisions = decide_threshold_alerts(readings, {"pump-1": FLEET, "pump-2": FLEET})
    by_key = {(r.device_id, r.sensor): r for r in decisions.raises}
    assert len(decisions.raises) == 2
    temp = by_key[("pump-1", "temp")]
    assert (temp.level, temp.value, temp.limit, temp.at, temp.kind) == (
        "critical",
        45,
        40,
        at(2),
        "threshold",
    )
    assert "45" in temp.message and "critical" in temp.message
    psi = by_key[("pump-2", "psi")]
    assert (psi.level, psi.value, psi.limit) == ("warning", 15, 20)
    assert decisions.resolves == []  # the newest readings are still beyond the limits


def test_the_level_ranks_before_how_extreme_the_value_is():
    readings = [Reading("d", "psi", 5, at(1)), Reading("d", "psi", 12, at(2))]
    raised = decide_threshold_alerts(readings, {"d": FLEET}).raises
    assert [(r.level, r.value) for r in raised] == [("critical", 5)]


def test_a_later_reading_within_bounds_resolves_after_the_raise():
    readings = [Reading("d", "temp", 20, at(5)), Reading("d", "temp", 45, at(1))]  # out of order
    decisions = decide_threshold_alerts(readings, {"d": FLEET})
    assert [(r.value, r.at) for r in decisions.raises] == [(45, at(1))]
    assert [(r.device_id, r.sensor, r.at) for r in decisions.resolves] == [("d", "temp", at(5))]


def test_a_newest_breach_does_not_resolve():
    readings = [Reading("d", "temp", 20, at(1)), Reading("d", "temp", 31, at(2))]
    decisions = decide_threshold_alerts(readings, {"d": FLEET})
    assert decisions.resolves == [] and decisions.raises[0].level == "warning"


def test_non_numeric_values_are_ignored_and_counted_and_unwatched_sensors_skipped():
    readings = [
        Reading("d", "temp", float("nan"), at(1)),
        Reading("d", "temp", None, at(2)),
        Reading("d", "temp", "hot", at(3)),
        Reading("d", "temp", True, at(4)),
        Reading("d", "temp", float("inf"), at(5)),
        Reading("d", "temp", "41.5", at(6)),  # numeric text counts
        Reading("d", "humidity", 99, at(1)),
        Reading("unknown", "temp", 99, at(1)),
    ]
    decisions = decide_threshold_alerts(readings, {"d": FLEET})
    assert decisions.ignored_values == 5
    assert decisions.unwatched == 2
    assert [(r.level, r.value) for r in decisions.raises] == [("critical", 41.5)]


def test_silence_beyond_cadence_times_grace_raises_warning_then_critical():
    now = at(60)
    quiet = device("quiet", seen=at(60 - 11), cadence=300)  # 11 min > 5 min x 2
    very_quiet = device("very", seen=at(60 - 21), cadence=300)  # > twice the allowed 10 min
    fresh = device("fresh", seen=at(60 - 9), cadence=300)
    decisions = decide_silence([quiet, very_quiet, fresh], now=now, default_cadence_seconds=60, grace=2)
    levels = {r.device_id: r.level for r in decisions.raises}
    assert levels == {"quiet": "warning", "very": "critical"}
    silent = next(r for r in decisions.raises if r.device_id == "quiet")
    assert (silent.kind, silent.sensor, silent.value, silent.limit) == ("silent", "", 660, 600)
    assert [r.device_id for r in decisions.resolves] == ["fresh"]


def test_silence_uses_the_fleet_cadence_and_creation_when_never_seen():
    never = device("never", seen=None, created_at=at(0))
    decisions = decide_silence([never], now=at(3), default_cadence_seconds=60, grace=2)
    assert [r.device_id for r in decisions.raises] == ["never"]
    assert decide_silence([never], now=at(2), default_cadence_seconds=60, grace=2).raises == []


def test_a_revoked_device_is_not_expected_to_report():
    revoked = device("gone", seen=at(0), status="revoked")
    decisions = decide_silence([revoked], now=at(600), default_cadence_seconds=60, grace=2)
    assert decisions.raises == [] and [r.device_id for r in decisions.resolves] == ["gone"]


def test_offline_against_the_fleet_threshold():
    d = device(seen=at(0))
    assert not is_offline(d, now=at(5), offline_after_seconds=300)
    assert is_offline(d, now=at(6), offline_after_seconds=300)

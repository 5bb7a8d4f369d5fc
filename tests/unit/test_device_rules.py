"""Device tokens, enrollment decisions and command parameters: the pure rules of the edge subsystem."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventpulse.devices.commands import CommandError, ack_status, expiry, validate_command
from eventpulse.devices.enrollment import decide_enrollment
from eventpulse.devices.present import present_device
from eventpulse.devices.tokens import (
    fingerprint_hash,
    hashes_match,
    is_valid_device_id,
    new_device_token,
    token_hash,
)
from eventpulse.ports.devices import Device

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def device(**changes: object) -> Device:
    base: dict[str, object] = {
        "device_id": "pi-001",
        "status": "active",
        "created_at": NOW,
        "created_by": "enroll",
        "token_hash": token_hash("pepper", "epd_old"),
        "token_rotated_at": NOW,
        "fingerprint_hash": fingerprint_hash("pepper", "serial-123"),
    }
    base.update(changes)
    return Device(**base)  # type: ignore[arg-type]


def test_tokens_are_random_256_bit_and_hashed_under_the_pepper() -> None:
    first, second = new_device_token(), new_device_token()
    assert first != second and first.startswith("epd_") and len(first) == 4 + 43
    assert token_hash("pepper", first) != token_hash("other pepper", first)
    assert token_hash("pepper", first) != fingerprint_hash("pepper", first), "purposes are separated"
    assert hashes_match(token_hash("pepper", first), token_hash("pepper", first))
    assert not hashes_match(token_hash("pepper", first), token_hash("pepper", second))
    assert not hashes_match(None, token_hash("pepper", first))


@pytest.mark.parametrize("value", ["pi-001", "A", "x" * 63, "sensor_1.field-a"])
def test_valid_device_ids(value: str) -> None:
    assert is_valid_device_id(value)


@pytest.mark.parametrize(
    "value", ["", "-pi", "x" * 64, "pi/001", "pi 1", "pi\x00", 7, None, "commands", "thresholds", "alerts"]
)
def test_invalid_device_ids(value: object) -> None:
    assert not is_valid_device_id(value)


def test_enrollment_decisions() -> None:
    presented = fingerprint_hash("pepper", "serial-123")
    assert decide_enrollment(None, presented).outcome == "create"
    assert decide_enrollment(device(), presented).outcome == "rotate"
    assert decide_enrollment(device(fingerprint_hash=None), presented).outcome == "bind"
    wrong = fingerprint_hash("pepper", "someone else")
    mismatch = decide_enrollment(device(), wrong)
    assert mismatch.outcome == "fingerprint_mismatch" and not mismatch.allowed
    revoked = decide_enrollment(device(status="revoked"), presented)
    assert revoked.outcome == "revoked" and not revoked.allowed


def test_presented_device_never_carries_its_secrets() -> None:
    body = present_device(device(last_seen_at=NOW), now=NOW, offline_after_seconds=60)
    assert "token_hash" not in body and "fingerprint_hash" not in body
    assert body["online"] is True and body["has_fingerprint"] is True
    assert "serial-123" not in repr(body) and body["health"]["battery_v"] is None


def test_command_parameters_are_checked_and_named() -> None:
    assert validate_command("set_sampling_interval", {"seconds": 30}) == {"seconds": 30}
    assert validate_command("upload_logs", None) == {"lines": 500}
    assert validate_command("update_agent", {"version": " 1.2.0 "}) == {"version": "1.2.0"}
    assert validate_command("restart_agent", {}) == {}
    with pytest.raises(CommandError, match="unknown command 'rm -rf'"):
        validate_command("rm -rf", {})
    with pytest.raises(CommandError, match="params.seconds"):
        validate_command("set_sampling_interval", {"seconds": 0})
    with pytest.raises(CommandError, match="params.seconds"):
        validate_command("set_sampling_interval", {"seconds": True})
    with pytest.raises(CommandError, match="takes no parameter 'shell'"):
        validate_command("restart_agent", {"shell": "reboot"})
    with pytest.raises(CommandError, match="ttl_seconds"):
        expiry(NOW, 0)
    assert ack_status(True) == "succeeded" and ack_status(False) == "failed"


def test_device_source_round_trips_and_ignores_other_sources() -> None:
    from eventpulse.devices.binding import device_of_source, device_source

    assert device_of_source(device_source("pi-001")) == "pi-001"
    assert device_of_source("api") is None and device_of_source("device:") is None
    assert device_of_source(None) is None

"""The device side of /api/edge (issue 8) on a real Postgres registry: enrol, authenticate, heartbeat."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW

ENROLL_TOKEN = "fleet-enroll-secret"


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="test-pepper",
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


def enroll(client, device_id: str, fingerprint: str = "fp-aaaaaaaa", token: str = ENROLL_TOKEN):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/edge/enroll",
        json={"device_id": device_id, "enroll_fingerprint": fingerprint},
        headers={"X-Device-Enroll-Token": token},
    )


def test_enrol_then_rotate_with_the_same_fingerprint_and_refuse_another(client) -> None:
    first = enroll(client, "pump-1")
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["created"] is True and first.get_json()["device_token"].startswith("epd_")
    again = enroll(client, "pump-1")
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["device_token"] != first.get_json()["device_token"]
    assert enroll(client, "pump-1", fingerprint="fp-bbbbbbbb").status_code == 409
    assert enroll(client, "pump-2", token="wrong").status_code == 401


def test_a_device_token_opens_device_routes_and_records_health(client, services) -> None:
    token = enroll(client, "pump-3").get_json()["device_token"]
    by_header = client.get("/api/edge/ping", headers={"X-Device-Id": "pump-3", "X-Device-Token": token})
    assert by_header.status_code == 200 and by_header.get_json() == {"device_id": "pump-3"}
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/edge/ping", headers=bearer).status_code == 200
    other = {"X-Device-Id": "pump-9", "X-Device-Token": token}
    assert client.get("/api/edge/ping", headers=other).status_code == 401
    assert client.get("/api/edge/ping", headers={"Authorization": "Bearer epd_nope"}).status_code == 401
    assert client.get("/api/ingestions", headers=bearer).status_code == 401
    beat = client.post("/api/edge/heartbeat", json={"battery_v": 3.7, "spool_depth": 4}, headers=bearer)
    assert beat.status_code == 200, beat.get_json()
    device = services.devices.get("pump-3")
    assert device is not None and device.health.battery_v == 3.7 and device.health.spool_depth == 4
    assert device.last_seen_at is not None


def test_enrolment_is_rate_limited_per_address(client, services) -> None:
    limit = services.settings.enroll_rate_per_minute
    for _ in range(limit):
        enroll(client, "pump-4", token="wrong")
    limited = enroll(client, "pump-4")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_a_revoked_device_is_refused_on_device_routes_and_at_enrolment(client, services) -> None:
    from datetime import UTC, datetime

    token = enroll(client, "pump-5").get_json()["device_token"]
    services.devices.update("pump-5", at=datetime.now(UTC), status="revoked", revoked_by="token:root")
    refused = client.get("/api/edge/ping", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and refused.get_json()["error"]["message"] == "device revoked"
    assert refused.get_json()["error"]["code"] == "forbidden"  # not dataset_not_allowed: the agent stops
    assert enroll(client, "pump-5").status_code == 403


def test_device_routes_answer_503_without_a_pepper(client, services) -> None:
    client.application.config["EVENTPULSE_SETTINGS"] = services.settings.with_overrides(
        device_token_pepper=None
    )
    response = client.get("/api/edge/ping", headers={"Authorization": "Bearer epd_x"})
    assert response.status_code == 503 and response.get_json()["error"]["hint"]


# --- agentit: unknown edge paths answer a device credential with 404 ---------------------------------


def test_an_unknown_edge_path_is_404_for_a_device_and_401_without_a_credential(client) -> None:
    """An agent newer than its server must not read a missing route as a rotated token (401)."""
    token = enroll(client, "pump-7").get_json()["device_token"]
    device = {"X-Device-Id": "pump-7", "X-Device-Token": token}
    missing = client.get("/api/edge/no-such-route", headers=device)
    assert missing.status_code == 404, missing.get_json()
    assert client.get("/api/edge/no-such-route").status_code == 401
    wrong = {"X-Device-Id": "pump-7", "X-Device-Token": "epd_wrong"}
    assert client.get("/api/edge/no-such-route", headers=wrong).status_code == 401


@pytest.mark.parametrize("device_id", ["alerts", "commands", "thresholds", "pi/001"])
def test_enrolment_refuses_ids_the_admin_routes_could_not_address(client, services, device_id: str) -> None:
    answer = enroll(client, device_id)
    assert answer.status_code == 400, answer.get_json()
    assert "not commands, thresholds or alerts" in answer.get_json()["error"]["hint"]
    assert services.devices.get(device_id) is None


class SteppedClock:
    """The Clock port at a time the test sets (the services' clock is a port for this)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def test_last_seen_is_written_once_per_resolution_window_and_always_by_a_heartbeat(client, services) -> None:
    token = enroll(client, "pump-6").get_json()["device_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    start = datetime.now(UTC) + timedelta(minutes=1)
    services.clock = SteppedClock(start)
    resolution = services.settings.device_seen_resolution_seconds
    assert resolution == 10

    def seen() -> datetime | None:
        device = services.devices.get("pump-6")
        return device.last_seen_at if device else None

    assert client.get("/api/edge/ping", headers=bearer).status_code == 200
    assert seen() == start
    services.clock.at = start + timedelta(seconds=resolution - 1)  # within the window: no write
    assert client.get("/api/edge/ping", headers=bearer).status_code == 200
    assert seen() == start
    services.clock.at = start + timedelta(seconds=resolution)  # the window has passed: written
    assert client.get("/api/edge/ping", headers=bearer).status_code == 200
    assert seen() == start + timedelta(seconds=resolution)
    services.clock.at = start + timedelta(seconds=resolution + 1)  # a heartbeat always writes
    assert client.post("/api/edge/heartbeat", json={"battery_v": 3.6}, headers=bearer).status_code == 200
    assert seen() == start + timedelta(seconds=resolution + 1)

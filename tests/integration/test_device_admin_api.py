"""The admin side of /api/devices (issue 8) on a real Postgres registry: lifecycle, commands, alerts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.settings import ApiToken

ENROLL_TOKEN = "fleet-enroll-secret"
ADMIN = {"Authorization": "Bearer devices-admin"}
VIEWER = {"Authorization": "Bearer devices-viewer"}
ACTOR = "token:devices-admin"


def api_tokens() -> tuple[ApiToken, ...]:
    return tuple(
        ApiToken(
            name=f"devices-{role}", role=role, sha256=hashlib.sha256(f"devices-{role}".encode()).hexdigest()
        )
        for role in ("viewer", "admin")
    )


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        api_tokens=api_tokens(),
        api_token_sha256=(),
        device_token_pepper="test-pepper",
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


def provision(client, device_id: str, **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post("/api/devices", json={"device_id": device_id, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def ping(client, token: str) -> int:  # type: ignore[no-untyped-def]
    status: int = client.get("/api/edge/ping", headers={"Authorization": f"Bearer {token}"}).status_code
    return status


def audited(services, device_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with services.store.read() as tx:
        events, _ = tx.audit.page(entity_id=device_id, limit=100)
    return [(e["action"], e["actor"]) for e in events]


def test_provision_shows_the_token_once_and_the_device_can_use_it(client, services) -> None:
    body = provision(
        client, "pi-1", label="roof", group="north", datasets=["edge_telemetry"], cadence_seconds=60
    )
    token = body["device_token"]
    assert token.startswith("epd_")
    device = body["device"]
    assert device["label"] == "roof" and device["group"] == "north" and device["cadence_seconds"] == 60
    assert device["created_by"] == ACTOR and device["online"] is False
    assert ping(client, token) == 200
    detail = client.get("/api/devices/pi-1", headers=VIEWER)
    assert detail.status_code == 200 and detail.get_json()["online"] is True
    text = detail.get_data(as_text=True)
    assert token not in text and "token_hash" not in text and "fingerprint_hash" not in text
    assert services.devices.get("pi-1").token_hash not in text
    assert ("device.provisioned", ACTOR) in audited(services, "pi-1")


def test_provision_refuses_an_existing_id_a_bad_id_and_a_missing_pepper(client, services) -> None:
    provision(client, "pi-2")
    again = client.post("/api/devices", json={"device_id": "pi-2"}, headers=ADMIN)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    for bad in ("-bad", "alerts", "a" * 64):
        assert client.post("/api/devices", json={"device_id": bad}, headers=ADMIN).status_code == 400
    assert (
        client.post(
            "/api/devices", json={"device_id": "pi-x", "cadence_seconds": 0}, headers=ADMIN
        ).status_code
        == 400
    )
    client.application.config["EVENTPULSE_SETTINGS"] = services.settings.with_overrides(
        device_token_pepper=None
    )
    missing = client.post("/api/devices", json={"device_id": "pi-3"}, headers=ADMIN)
    assert missing.status_code == 503 and missing.get_json()["error"]["code"] == "not_configured"


def test_a_provisioned_device_binds_its_fingerprint_at_enrolment(client, services) -> None:
    provision(client, "pi-4")
    enrolled = client.post(
        "/api/edge/enroll",
        json={"device_id": "pi-4", "enroll_fingerprint": "fp-aaaaaaaa"},
        headers={"X-Device-Enroll-Token": ENROLL_TOKEN},
    )
    assert enrolled.status_code == 200, enrolled.get_json()
    assert client.get("/api/devices/pi-4", headers=VIEWER).get_json()["has_fingerprint"] is True


def test_detail_of_an_unknown_device_is_the_404_envelope(client) -> None:
    response = client.get("/api/devices/pi-nosuch", headers=VIEWER)
    assert response.status_code == 404
    assert (
        response.get_json()["error"]["code"] == "not_found"
        and "pi-nosuch" in response.get_json()["error"]["message"]
    )


def test_list_filters_and_pages_across_two_pages(client) -> None:
    for n in range(3):
        provision(client, f"north-{n}", group="north")
    provision(client, "south-0", group="south", label="Shed")
    token = provision(client, "south-1", group="south")["device_token"]
    ping(client, token)
    first = client.get("/api/devices", query_string={"group": "north", "limit": 2}, headers=VIEWER).get_json()
    assert [d["device_id"] for d in first["items"]] == ["north-0", "north-1"] and first["next_cursor"]
    second = client.get(
        "/api/devices",
        query_string={"group": "north", "limit": 2, "cursor": first["next_cursor"]},
        headers=VIEWER,
    ).get_json()
    assert [d["device_id"] for d in second["items"]] == ["north-2"] and second["next_cursor"] is None
    online = client.get("/api/devices", query_string={"online": "true"}, headers=VIEWER).get_json()
    assert [d["device_id"] for d in online["items"]] == ["south-1"]
    offline = client.get("/api/devices", query_string={"online": "false", "group": "south"}, headers=VIEWER)
    assert [d["device_id"] for d in offline.get_json()["items"]] == ["south-0"]
    search = client.get("/api/devices", query_string={"search": "shed"}, headers=VIEWER).get_json()
    assert [d["device_id"] for d in search["items"]] == ["south-0"]
    assert client.get("/api/devices", query_string={"cursor": "garbage"}, headers=VIEWER).status_code == 400
    assert client.get("/api/devices", query_string={"status": "lost"}, headers=VIEWER).status_code == 400


def test_rotation_invalidates_the_old_token_at_once(client, services) -> None:
    old = provision(client, "pi-5")["device_token"]
    rotated = client.post("/api/devices/pi-5/rotate", headers=ADMIN)
    assert rotated.status_code == 200
    new = rotated.get_json()["device_token"]
    assert new != old and ping(client, old) == 401 and ping(client, new) == 200
    assert ("device.token_rotated", ACTOR) in audited(services, "pi-5")
    assert client.post("/api/devices/pi-nosuch/rotate", headers=ADMIN).status_code == 404


def test_revoke_refuses_the_device_and_unrevoke_lets_it_back(client, services) -> None:
    token = provision(client, "pi-6")["device_token"]
    assert (
        client.post("/api/devices/pi-6/revoke", json={}, headers=ADMIN).status_code == 400
    )  # reason required
    revoked = client.post("/api/devices/pi-6/revoke", json={"reason": "stolen"}, headers=ADMIN)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["revoked_by"] == ACTOR
    assert ping(client, token) == 403
    assert client.post("/api/devices/pi-6/rotate", headers=ADMIN).status_code == 409
    back = client.post("/api/devices/pi-6/unrevoke", json={"reason": "found"}, headers=ADMIN)
    assert back.status_code == 200 and back.get_json()["status"] == "active"
    assert ping(client, token) == 200
    actions = audited(services, "pi-6")
    assert ("device.revoked", ACTOR) in actions and ("device.unrevoked", ACTOR) in actions


def test_patch_changes_only_the_fields_given_and_validates_them(client, services) -> None:
    provision(client, "pi-7", label="a", group="g1")
    patched = client.patch("/api/devices/pi-7", json={"label": "b", "cadence_seconds": 30}, headers=ADMIN)
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["label"] == "b" and body["group"] == "g1" and body["cadence_seconds"] == 30
    patched = client.patch(
        "/api/devices/pi-7", json={"group": "g2", "datasets": ["edge_telemetry"]}, headers=ADMIN
    )
    assert patched.get_json()["group"] == "g2" and patched.get_json()["datasets"] == ["edge_telemetry"]
    for bad in (
        {},
        {"cadence_seconds": -1},
        {"datasets": ["Bad-Name"]},
        {"label": None},
        {"token_hash": "x"},
        {"cadence_seconds": "5"},
    ):
        assert client.patch("/api/devices/pi-7", json=bad, headers=ADMIN).status_code == 400, bad
    assert client.patch("/api/devices/pi-nosuch", json={"label": "x"}, headers=ADMIN).status_code == 404
    assert ("device.updated", ACTOR) in audited(services, "pi-7")


def test_delete_removes_the_device_and_its_token(client, services) -> None:
    token = provision(client, "pi-8")["device_token"]
    client.put(
        "/api/devices/pi-8/thresholds", json={"thresholds": [{"sensor": "t", "warning": 1}]}, headers=ADMIN
    )
    deleted = client.delete("/api/devices/pi-8", headers=ADMIN)
    assert deleted.status_code == 200 and deleted.get_json() == {"device_id": "pi-8", "deleted": True}
    assert client.get("/api/devices/pi-8", headers=VIEWER).status_code == 404
    assert services.devices.thresholds("pi-8") == []
    assert ping(client, token) == 401
    assert client.delete("/api/devices/pi-8", headers=ADMIN).status_code == 404
    assert ("device.deleted", ACTOR) in audited(services, "pi-8")


def test_a_reader_cannot_write_and_a_device_token_opens_no_admin_route(client) -> None:
    token = provision(client, "pi-9")["device_token"]
    assert client.post("/api/devices", json={"device_id": "pi-10"}, headers=VIEWER).status_code == 403
    device = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/devices", headers=device).status_code == 401
    headers = {"X-Device-Id": "pi-9", "X-Device-Token": token}
    assert client.post("/api/devices/pi-9/rotate", headers=headers).status_code == 401


# --- commands -------------------------------------------------------------------------------------


def test_queue_a_command_with_validated_params_and_the_default_ttl(client, services) -> None:
    provision(client, "pi-11")
    queued = client.post(
        "/api/devices/pi-11/commands",
        json={"kind": "set_sampling_interval", "params": {"seconds": 30}},
        headers=ADMIN,
    )
    assert queued.status_code == 201, queued.get_json()
    command = queued.get_json()
    assert (
        command["status"] == "queued"
        and command["params"] == {"seconds": 30}
        and command["created_by"] == ACTOR
    )
    ttl = datetime.fromisoformat(command["expires_at"]) - datetime.fromisoformat(command["created_at"])
    assert ttl.total_seconds() == services.settings.command_ttl_seconds
    bad_kind = client.post("/api/devices/pi-11/commands", json={"kind": "format_disk"}, headers=ADMIN)
    assert bad_kind.status_code == 400 and "format_disk" in bad_kind.get_json()["error"]["message"]
    assert bad_kind.get_json()["error"]["hint"]
    bad_params = client.post(
        "/api/devices/pi-11/commands",
        json={"kind": "set_sampling_interval", "params": {"seconds": 0}},
        headers=ADMIN,
    )
    assert bad_params.status_code == 400
    bad_ttl = client.post(
        "/api/devices/pi-11/commands", json={"kind": "restart_agent", "ttl_seconds": 0}, headers=ADMIN
    )
    assert bad_ttl.status_code == 400
    nosuch = client.post("/api/devices/pi-nosuch/commands", json={"kind": "restart_agent"}, headers=ADMIN)
    assert nosuch.status_code == 404
    assert ("device.command_queued", ACTOR) in audited(services, "pi-11")


def test_a_group_command_fans_out_to_each_active_device_of_the_group(client) -> None:
    for n in range(3):
        provision(client, f"grp-{n}", group="field")
    provision(client, "other", group="lab")
    client.post("/api/devices/grp-2/revoke", json={"reason": "broken"}, headers=ADMIN)
    fanned = client.post(
        "/api/devices/commands",
        json={"group": "field", "kind": "upload_logs", "params": {"lines": 50}},
        headers=ADMIN,
    )
    assert fanned.status_code == 201, fanned.get_json()
    body = fanned.get_json()
    assert body["queued"] == 2 and sorted(c["device_id"] for c in body["commands"]) == ["grp-0", "grp-1"]
    assert all(c["group"] == "field" for c in body["commands"])
    listed = client.get("/api/devices/commands", query_string={"status": "queued"}, headers=VIEWER).get_json()
    assert sorted(c["device_id"] for c in listed["items"]) == ["grp-0", "grp-1"]
    empty = client.post(
        "/api/devices/commands", json={"group": "nobody", "kind": "restart_agent"}, headers=ADMIN
    )
    assert empty.status_code == 404
    bad = client.post("/api/devices/commands", json={"group": "field", "kind": "nope"}, headers=ADMIN)
    assert bad.status_code == 400


def test_device_commands_page_newest_first(client) -> None:
    provision(client, "pi-12")
    ids = [
        client.post("/api/devices/pi-12/commands", json={"kind": "restart_agent"}, headers=ADMIN).get_json()[
            "command_id"
        ]
        for _ in range(3)
    ]
    first = client.get("/api/devices/pi-12/commands", query_string={"limit": 2}, headers=VIEWER).get_json()
    second = client.get(
        "/api/devices/pi-12/commands",
        query_string={"limit": 2, "cursor": first["next_cursor"]},
        headers=VIEWER,
    ).get_json()
    seen = [c["command_id"] for c in first["items"] + second["items"]]
    assert sorted(seen) == sorted(ids) and len(first["items"]) == 2 and second["next_cursor"] is None
    assert client.get("/api/devices/pi-nosuch/commands", headers=VIEWER).status_code == 404


def test_cancel_only_a_queued_or_delivered_command(client, services) -> None:
    provision(client, "pi-13")
    queued = client.post(
        "/api/devices/pi-13/commands", json={"kind": "restart_agent"}, headers=ADMIN
    ).get_json()
    cancelled = client.post(f"/api/devices/commands/{queued['command_id']}/cancel", headers=ADMIN)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = client.post(f"/api/devices/commands/{queued['command_id']}/cancel", headers=ADMIN)
    assert again.status_code == 409 and "cancelled" in again.get_json()["error"]["message"]
    done = client.post("/api/devices/pi-13/commands", json={"kind": "rotate_token"}, headers=ADMIN).get_json()
    services.devices.finish_command(
        done["command_id"], expected=("queued",), status="succeeded", at=datetime.now(UTC), result={}
    )
    assert client.post(f"/api/devices/commands/{done['command_id']}/cancel", headers=ADMIN).status_code == 409
    delivered = client.post(
        "/api/devices/pi-13/commands", json={"kind": "restart_agent"}, headers=ADMIN
    ).get_json()
    services.devices.deliver_commands("pi-13", now=datetime.now(UTC), limit=10)
    ok = client.post(f"/api/devices/commands/{delivered['command_id']}/cancel", headers=ADMIN)
    assert ok.status_code == 200 and ok.get_json()["status"] == "cancelled"
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.post(f"/api/devices/commands/{missing}/cancel", headers=ADMIN).status_code == 404
    assert ("device.command_cancelled", ACTOR) in audited(services, "pi-13")


# --- thresholds and alerts ------------------------------------------------------------------------


def test_fleet_and_device_thresholds_are_replaced_and_validated(client, services) -> None:
    fleet = [
        {"sensor": "temp_c", "warning": 40, "critical": 50},
        {"sensor": "battery_v", "direction": "below", "warning": 3.4, "critical": 3.2},
    ]
    put = client.put("/api/devices/thresholds", json={"thresholds": fleet}, headers=ADMIN)
    assert put.status_code == 200, put.get_json()
    got = client.get("/api/devices/thresholds", headers=VIEWER).get_json()
    assert got["device_id"] is None
    assert {t["sensor"]: (t["direction"], t["warning"], t["critical"]) for t in got["thresholds"]} == {
        "temp_c": ("above", 40, 50),
        "battery_v": ("below", 3.4, 3.2),
    }
    provision(client, "pi-14")
    own = client.put(
        "/api/devices/pi-14/thresholds",
        json={"thresholds": [{"sensor": "temp_c", "critical": 45}]},
        headers=ADMIN,
    )
    assert own.status_code == 200
    assert client.get("/api/devices/pi-14/thresholds", headers=VIEWER).get_json()["thresholds"] == [
        {"sensor": "temp_c", "direction": "above", "warning": None, "critical": 45}
    ]
    invalid = [
        [{"sensor": "t"}],  # no limit
        [{"sensor": "t", "warning": 50, "critical": 40}],  # above: warning after critical
        [{"sensor": "t", "direction": "below", "warning": 3.0, "critical": 3.2}],
        [{"sensor": "t", "warning": "40"}],
        [{"sensor": "t", "warning": 1}, {"sensor": "t", "warning": 2}],
        [{"sensor": "t", "direction": "sideways", "warning": 1}],
    ]
    for body in invalid:
        assert (
            client.put("/api/devices/pi-14/thresholds", json={"thresholds": body}, headers=ADMIN).status_code
            == 400
        ), body
    assert (
        client.put("/api/devices/pi-nosuch/thresholds", json={"thresholds": []}, headers=ADMIN).status_code
        == 404
    )
    assert ("device.thresholds_set", ACTOR) in audited(services, "pi-14")
    assert ("device.thresholds_set", ACTOR) in audited(services, "*")


def raise_alert(services, device_id: str, sensor: str, kind: str = "threshold"):  # type: ignore[no-untyped-def]
    return services.devices.raise_alert(
        device_id=device_id,
        kind=kind,
        sensor=sensor,
        level="warning",
        message=f"{sensor} high",
        value=41.0,
        limit=40.0,
        at=datetime.now(UTC),
    )


def test_alerts_list_filters_pages_and_acknowledge(client, services) -> None:
    provision(client, "pi-15")
    provision(client, "pi-16")
    first = raise_alert(services, "pi-15", "temp_c")
    raise_alert(services, "pi-15", "humidity")
    raise_alert(services, "pi-16", "", kind="silent")
    page1 = client.get(
        "/api/devices/alerts", query_string={"device_id": "pi-15", "limit": 1}, headers=VIEWER
    ).get_json()
    page2 = client.get(
        "/api/devices/alerts",
        query_string={"device_id": "pi-15", "limit": 1, "cursor": page1["next_cursor"]},
        headers=VIEWER,
    ).get_json()
    assert {page1["items"][0]["sensor"], page2["items"][0]["sensor"]} == {"temp_c", "humidity"}
    silent = client.get("/api/devices/alerts", query_string={"kind": "silent"}, headers=VIEWER).get_json()
    assert [a["device_id"] for a in silent["items"]] == ["pi-16"]
    acked = client.post(f"/api/devices/alerts/{first.alert_id}/ack", headers=ADMIN)
    assert acked.status_code == 200 and acked.get_json()["acknowledged_by"] == ACTOR
    pending = client.get(
        "/api/devices/alerts", query_string={"unacknowledged": "true", "device_id": "pi-15"}, headers=VIEWER
    )
    assert [a["sensor"] for a in pending.get_json()["items"]] == ["humidity"]
    assert (
        client.post("/api/devices/alerts/00000000-0000-4000-8000-000000000000/ack", headers=ADMIN).status_code
        == 404
    )
    assert client.post(f"/api/devices/alerts/{first.alert_id}/ack", headers=VIEWER).status_code == 403
    assert ("device.alert_acknowledged", ACTOR) in audited(services, "pi-15")

"""The command channel on a real Postgres registry: ``GET /api/edge/commands`` and the ack route."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.ports.devices import Command, CommandKind
from tests.integration.test_edge_api import ENROLL_TOKEN, enroll


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="test-pepper",
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


def bearer(client, device_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {enroll(client, device_id).get_json()['device_token']}"}


def queue(
    services: Any,
    device_id: str,
    *,
    kind: CommandKind = "set_sampling_interval",
    params: dict[str, Any] | None = None,
    ttl: timedelta = timedelta(hours=1),
    created_at: datetime | None = None,
) -> str:
    at = created_at or datetime.now(UTC) - timedelta(seconds=1)
    command_id = str(uuid.uuid4())
    services.devices.queue_command(
        Command(
            command_id=command_id,
            device_id=device_id,
            kind=kind,
            params={"seconds": 30} if params is None and kind == "set_sampling_interval" else params or {},
            status="queued",
            created_by="token:admin",
            created_at=at,
            expires_at=at + ttl,
        )
    )
    return command_id


def audited(services: Any, action: str, command_id: str) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        events, _ = tx.audit.page(entity_id=command_id, limit=100)
    return [e for e in events if e["action"] == action]


def ack(client, headers, command_id: str, **body: Any):  # type: ignore[no-untyped-def]
    return client.post(f"/api/edge/commands/{command_id}/ack", json=body, headers=headers)


def test_pending_commands_are_delivered_to_their_device_only_and_audited(client, services) -> None:
    mine, theirs = bearer(client, "pi-cmd-1"), bearer(client, "pi-cmd-2")
    first = queue(services, "pi-cmd-1", created_at=datetime.now(UTC) - timedelta(seconds=5))
    second = queue(services, "pi-cmd-1", kind="restart_agent")
    queue(services, "pi-cmd-2", kind="upload_logs", params={"lines": 10})

    response = client.get("/api/edge/commands", headers=mine)
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    assert [i["command_id"] for i in items] == [first, second]  # oldest first, none of pi-cmd-2
    assert items[0]["kind"] == "set_sampling_interval" and items[0]["params"] == {"seconds": 30}
    assert set(items[0]) == {"command_id", "kind", "params", "issued_at", "expires_at"}
    assert services.devices.get_command(first).status == "delivered"
    assert len(audited(services, "device.command_delivered", first)) == 1
    # not acknowledged: handed out again on the next contact, audited as a redelivery
    again = client.get("/api/edge/commands", headers=mine).get_json()["items"]
    assert [i["command_id"] for i in again] == [first, second]
    events = audited(services, "device.command_delivered", first)
    assert len(events) == 2 and any(e["details"]["redelivered"] for e in events)
    assert [i["kind"] for i in client.get("/api/edge/commands", headers=theirs).get_json()["items"]] == [
        "upload_logs"
    ]


def test_an_expired_command_is_not_delivered_and_becomes_expired(client, services) -> None:
    headers = bearer(client, "pi-cmd-3")
    old = queue(
        services, "pi-cmd-3", ttl=timedelta(seconds=1), created_at=datetime.now(UTC) - timedelta(hours=1)
    )
    assert client.get("/api/edge/commands", headers=headers).get_json() == {"items": []}
    assert services.devices.get_command(old).status == "expired"
    assert ack(client, headers, old, ok=True).status_code == 409


def test_an_ack_finishes_the_command_once_and_is_audited(client, services) -> None:
    headers = bearer(client, "pi-cmd-4")
    done, broken = (
        queue(services, "pi-cmd-4"),
        queue(services, "pi-cmd-4", kind="update_agent", params={"version": "9"}),
    )
    client.get("/api/edge/commands", headers=headers)

    answer = ack(client, headers, done, ok=True, output="sampling every 30 s")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "succeeded" and answer.get_json()["command_id"] == done
    stored = services.devices.get_command(done)
    assert stored.status == "succeeded" and stored.result["output"] == "sampling every 30 s"
    failed = ack(client, headers, broken, ok=False, error="pip failed")
    assert failed.get_json()["status"] == "failed"
    assert services.devices.get_command(broken).result["error"] == "pip failed"
    assert [e["details"]["status"] for e in audited(services, "device.command_acked", done)] == ["succeeded"]

    repeat = ack(client, headers, done, ok=False)
    assert repeat.status_code == 409 and repeat.get_json()["error"]["details"]["status"] == "succeeded"
    assert services.devices.get_command(done).status == "succeeded"


def test_another_devices_command_is_404_like_an_unknown_one(client, services) -> None:
    mine = bearer(client, "pi-cmd-5")
    bearer(client, "pi-cmd-6")
    theirs = queue(services, "pi-cmd-6")
    nobody = str(uuid.uuid4())
    foreign, unknown = ack(client, mine, theirs, ok=True), ack(client, mine, nobody, ok=True)
    assert foreign.status_code == unknown.status_code == 404
    # the same answer as for an id that does not exist, the id aside: nothing tells the command exists
    shown, unknown_error = foreign.get_json()["error"], unknown.get_json()["error"]
    for key in ("code", "message", "hint"):
        assert shown[key].replace(theirs, "ID") == unknown_error[key].replace(nobody, "ID")
    assert "pi-cmd-6" not in foreign.get_data(as_text=True)
    assert services.devices.get_command(theirs).status == "queued"


def test_an_ack_body_is_bounded_and_strict(client, services) -> None:
    headers = bearer(client, "pi-cmd-7")
    command = queue(services, "pi-cmd-7")
    assert ack(client, headers, command, ok="yes").status_code == 400
    assert ack(client, headers, command, ok=True, output="x" * (64 * 1024 + 1)).status_code == 400
    assert ack(client, headers, command, ok=False, error="x" * 4097).status_code == 400
    assert ack(client, headers, command, ok=True, token="epd_secret").status_code == 400
    assert services.devices.get_command(command).status == "queued"
    # the agent's upload_logs answer at its own cap (64 KiB of text) fits, even escaped
    logs = "\u00e9\t" * (32 * 1024)
    answer = ack(client, headers, command, ok=True, output=logs)
    assert answer.status_code == 200, answer.get_json()
    assert services.devices.get_command(command).result["output"] == logs


def test_rotate_token_is_done_by_re_enrolling_and_the_ack_comes_with_the_new_token(client, services) -> None:
    old = bearer(client, "pi-cmd-8")
    rotate = queue(services, "pi-cmd-8", kind="rotate_token")
    items = client.get("/api/edge/commands", headers=old).get_json()["items"]
    assert [(i["kind"], i["params"]) for i in items] == [("rotate_token", {})]  # no secret travels
    new = bearer(client, "pi-cmd-8")  # the agent re-enrolls with its fingerprint
    assert ack(client, old, rotate, ok=True).status_code == 401  # the old token is gone
    answer = ack(client, new, rotate, ok=True, output="token rotated")
    assert answer.status_code == 200 and answer.get_json()["status"] == "succeeded"


def test_a_rotate_token_success_without_a_rotation_is_recorded_as_failed(client, services) -> None:
    headers = bearer(client, "pi-cmd-9")
    rotate = queue(services, "pi-cmd-9", kind="rotate_token")
    client.get("/api/edge/commands", headers=headers)
    answer = ack(client, headers, rotate, ok=True, output="token rotated")
    assert answer.status_code == 200 and answer.get_json()["status"] == "failed"
    assert "not rotated" in services.devices.get_command(rotate).result["error"]


def test_an_ack_after_expiry_expires_the_command_and_is_409(client, services) -> None:
    headers = bearer(client, "pi-cmd-10")
    late = queue(
        services, "pi-cmd-10", ttl=timedelta(seconds=1), created_at=datetime.now(UTC) - timedelta(hours=1)
    )
    answer = ack(client, headers, late, ok=True)  # no fetch in between, so no sweep ran
    assert answer.status_code == 409 and answer.get_json()["error"]["details"]["status"] == "expired"
    assert services.devices.get_command(late).status == "expired"

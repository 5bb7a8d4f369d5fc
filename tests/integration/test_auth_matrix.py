"""Every route of the app against every kind of credential: who gets 401, who gets 403, who gets in.

The expected access is written out here, independently of ``api/roles.py``: a new route that is not in
this table fails the test, and so does a route whose policy changed without this table changing.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from eventpulse.api.app import create_app
from eventpulse.settings import ApiToken
from tests.conftest import TEST_TASK_TOKEN

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
CREDENTIALS = {
    "none": {},
    "wrong": {"Authorization": "Bearer not-a-token"},
    "viewer": {"Authorization": "Bearer matrix-viewer"},
    "operator": {"Authorization": "Bearer matrix-operator"},
    "admin": {"Authorization": "Bearer matrix-admin"},
    "task": {"X-Task-Token": TEST_TASK_TOKEN},
}
WHO_GETS_IN = {
    "public": set(CREDENTIALS),
    "viewer": {"viewer", "operator", "admin"},
    "operator": {"operator", "admin"},
    "admin": {"admin"},
    "admin or task": {"admin", "task"},
    "task": {"task"},
    "device": set(),
}
"""No API or task credential opens a device route (``device``); tests/integration/test_edge_*.py
check the device credentials themselves."""
EXPECTED = {
    ("POST", "/api/edge/enroll"): "public",
    ("GET", "/api/edge/ping"): "device",
    ("POST", "/api/edge/heartbeat"): "device",
    # edge upload and command channel (branch edgeup)
    ("POST", "/api/edge/ingest/upload"): "device",
    ("GET", "/api/edge/commands"): "device",
    ("POST", "/api/edge/commands/<command_id>/ack"): "device",
    ("GET", "/health"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/api/openapi.json"): "public",
    ("GET", "/api/ingestions"): "viewer",
    ("GET", "/api/ingestions/<ingestion_id>"): "viewer",
    ("GET", "/api/datasets"): "viewer",
    ("GET", "/api/datasets/<dataset>/schemas"): "viewer",
    ("GET", "/api/audit_events"): "viewer",
    ("GET", "/api/contracts"): "viewer",
    ("GET", "/api/contracts/<dataset>"): "viewer",
    ("GET", "/api/contracts/<dataset>/versions/<version>"): "viewer",
    ("GET", "/api/contracts/<dataset>/diff"): "viewer",
    ("POST", "/api/contracts/<dataset>/validate"): "viewer",
    ("PUT", "/api/contracts/<dataset>"): "admin",
    ("POST", "/api/contracts/<dataset>/dry_run"): "operator",
    ("GET", "/api/marts"): "viewer",
    ("GET", "/api/marts/<name>"): "viewer",
    ("GET", "/api/stats/ingestions"): "viewer",
    ("GET", "/api/stats/expectations"): "viewer",
    ("GET", "/api/stats/drift"): "viewer",
    ("GET", "/api/stats/quarantine"): "viewer",
    ("GET", "/api/stats/queue"): "viewer",
    ("GET", "/api/devices/<device_id>/telemetry"): "viewer",
    ("GET", "/api/quality/trends"): "viewer",
    ("GET", "/api/drift/devices"): "viewer",
    ("GET", "/api/ops/config"): "viewer",
    ("GET", "/api/datasets/<dataset>/sample"): "viewer",
    ("POST", "/api/uploads/signed_url"): "operator",
    ("POST", "/api/uploads/finalize"): "operator",
    ("POST", "/api/uploads/backfill"): "operator",
    ("GET", "/api/media"): "viewer",
    ("GET", "/api/ops/database"): "viewer",
    ("POST", "/api/ingest/upload"): "operator",
    ("POST", "/api/ingestions/<ingestion_id>/replay"): "operator",
    ("POST", "/api/ingestions/<ingestion_id>/approve"): "operator",
    ("POST", "/api/ingestions/<ingestion_id>/reject"): "operator",
    ("POST", "/api/ingestions/<ingestion_id>/map_rename"): "admin",
    ("GET", "/api/quarantine"): "viewer",
    ("GET", "/api/quarantine/export"): "viewer",
    ("POST", "/api/quarantine/replay"): "operator",
    ("POST", "/api/quarantine/discard"): "operator",
    ("POST", "/api/demo/seed/<dataset>"): "operator",
    ("POST", "/api/ingest/from_path"): "task",
    ("POST", "/api/ingest/from_gcs"): "task",
    ("POST", "/internal/admin/reclaim"): "admin or task",
    ("POST", "/internal/admin/prune"): "admin or task",
    ("POST", "/internal/admin/replay"): "admin or task",
}
# issue 8, signed-URL uploads and media (branch edgemedia): the local media routes take no API, task
# or device credential; their signed token is the credential (a missing or bad one is 401).
WHO_GETS_IN["signed token"] = set()
EXPECTED.update(
    {
        ("POST", "/api/edge/uploads/gcs_signed_url"): "device",
        ("POST", "/api/edge/ingest/from_gcs"): "device",
        ("POST", "/api/edge/media/signed_url"): "device",
        ("POST", "/api/edge/media/finalize"): "device",
        ("PUT", "/api/edge/media/local"): "signed token",
        ("GET", "/api/edge/media/local"): "signed token",
        ("GET", "/api/devices/<device_id>/media"): "viewer",
    }
)
# --- device admin (api/devices.py, api/device_ops.py; issue 8) ---
DEVICE_ADMIN_ROUTES = {
    ("GET", "/api/devices"): "viewer",
    ("POST", "/api/devices"): "admin",
    ("GET", "/api/devices/<device_id>"): "viewer",
    ("PATCH", "/api/devices/<device_id>"): "admin",
    ("DELETE", "/api/devices/<device_id>"): "admin",
    ("POST", "/api/devices/<device_id>/rotate"): "admin",
    ("POST", "/api/devices/<device_id>/revoke"): "admin",
    ("POST", "/api/devices/<device_id>/unrevoke"): "admin",
    ("POST", "/api/devices/<device_id>/commands"): "admin",
    ("GET", "/api/devices/<device_id>/commands"): "viewer",
    ("POST", "/api/devices/commands"): "admin",
    ("GET", "/api/devices/commands"): "viewer",
    ("POST", "/api/devices/commands/<command_id>/cancel"): "admin",
    ("GET", "/api/devices/thresholds"): "viewer",
    ("PUT", "/api/devices/thresholds"): "admin",
    ("GET", "/api/devices/<device_id>/thresholds"): "viewer",
    ("PUT", "/api/devices/<device_id>/thresholds"): "admin",
    ("GET", "/api/devices/alerts"): "viewer",
    ("POST", "/api/devices/alerts/<alert_id>/ack"): "admin",
}
EXPECTED.update(DEVICE_ADMIN_ROUTES)
# Bodies that authorised callers can send quickly (most end 4xx, which is "allowed": not 401/403).
BODIES = {
    "/api/ingest/upload": b"a,b\n1,2\n",
    "/api/ingest/from_path": b'{"path": "nosuch/a.csv"}',
    "/api/ingest/from_gcs": b'{"name": "raw/nosuch/a.csv"}',
    "/api/uploads/signed_url": b'{"dataset": "nosuch", "filename": "a.csv"}',
    "/api/uploads/backfill": b'{"name": "raw/nosuch/a.csv"}',
    "/api/uploads/finalize": b'{"object_name": "uploads/nosuch/a.csv"}',
    "/internal/admin/prune": b'{"older_than_days": 30}',
    "/internal/admin/replay": b'{"dataset": "nosuch", "dry_run": true}',
    "/api/contracts/<dataset>/validate": b'{"suite": {"name": "nosuch"}}',
    "/api/contracts/<dataset>": b'{"suite": {"name": "nosuch"}}',
    "/api/contracts/<dataset>/dry_run": b"{}",
    "/api/ingestions/<ingestion_id>/map_rename": b'{"from": "a", "to": "b"}',
    "/api/quarantine/replay": b'{"dataset": "nosuch"}',
    "/api/quarantine/discard": b'{"dataset": "nosuch", "reason": "matrix"}',
    "/api/edge/ingest/upload": b"a,b\n1,2\n",
    "/api/edge/commands/<command_id>/ack": b'{"ok": true}',
}
# --- device admin (issue 8): bodies that end 4xx quickly (or change nothing that exists) ---
BODIES.update(
    {
        "/api/devices": b'{"device_id": "-"}',
        "/api/devices/<device_id>": b'{"label": "matrix"}',
        "/api/devices/<device_id>/revoke": b'{"reason": "matrix"}',
        "/api/devices/<device_id>/commands": b'{"kind": "restart_agent"}',
        "/api/devices/commands": b'{"group": "nosuch", "kind": "restart_agent"}',
        "/api/devices/thresholds": b'{"thresholds": [{"sensor": "matrix"}]}',
        "/api/devices/<device_id>/thresholds": b'{"thresholds": []}',
    }
)
QUERIES = {
    "/api/ingest/upload": "?dataset=nosuch&filename=a.csv",
    "/api/stats/expectations": "?dataset=nosuch",
    "/api/quality/trends": "?dataset=nosuch",
    "/api/drift/devices": "?dataset=nosuch",
    "/api/edge/ingest/upload": "?dataset=edge_telemetry&filename=a.csv",
}


def matrix_tokens() -> tuple[ApiToken, ...]:
    return tuple(
        ApiToken(
            name=f"matrix-{role}", role=role, sha256=hashlib.sha256(f"matrix-{role}".encode()).hexdigest()
        )
        for role in ("viewer", "operator", "admin")
    )


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        api_tokens=matrix_tokens(), api_token_sha256=(), device_token_pepper="matrix-pepper"
    )
    return create_app(services).test_client()


def app_routes(client) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {
        (method, rule.rule)
        for rule in client.application.url_map.iter_rules()
        for method in (rule.methods or set()) - IMPLICIT_METHODS
    }


def concrete(rule: str) -> str:
    path = rule.replace("<ingestion_id>", str(uuid.uuid4())).replace("<dataset>", "nosuch")
    path = path.replace("<version>", "0" * 64).replace("<name>", "nosuch").replace("<device_id>", "pi-nosuch")
    path = path.replace("<command_id>", "cmd-nosuch")
    path = path.replace("<alert_id>", str(uuid.uuid4()))  # issue 8 (device admin)
    assert not re.search(r"<[^>]+>", path), f"the matrix has no value for the parameter of {rule}"
    return path + QUERIES.get(rule, "")


def expected_class(access: str, credential: str) -> str:
    if credential in WHO_GETS_IN[access]:
        return "allowed"
    takes_bearer = access in ("viewer", "operator", "admin", "admin or task")
    is_valid_bearer = credential in ("viewer", "operator", "admin")
    return "403" if takes_bearer and is_valid_bearer else "401"


def outcome_class(status: int) -> str:
    return str(status) if status in (401, 403) else "allowed"


def test_every_route_of_the_app_has_an_expected_access(client) -> None:
    routes = app_routes(client)
    assert sorted(routes - set(EXPECTED)) == [], "new routes: add them to EXPECTED with their access"
    assert sorted(set(EXPECTED) - routes) == [], "EXPECTED lists routes the app does not serve"


@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize("method, rule", sorted(EXPECTED))
def test_each_credential_gets_exactly_its_outcome(client, method, rule, credential) -> None:
    body = BODIES.get(rule, b"")
    headers = {**CREDENTIALS[credential], "Content-Type": "application/json"}
    if rule in ("/api/ingest/upload", "/api/edge/ingest/upload"):
        headers["Content-Type"] = "application/octet-stream"
    response = client.open(concrete(rule), method=method, headers=headers, data=body)
    expected = expected_class(EXPECTED[(method, rule)], credential)
    assert outcome_class(response.status_code) == expected, (response.status_code, response.get_json())
    if expected != "allowed":
        error = response.get_json()["error"]
        assert error["status"] == int(expected)
        assert error["code"] == ("forbidden" if expected == "403" else "unauthorized")


def test_a_forbidden_answer_names_the_role_needed_and_the_tokens_role(client) -> None:
    response = client.post(f"/api/ingestions/{uuid.uuid4()}/replay", headers=CREDENTIALS["viewer"])
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert (
        "operator role" in error["message"] and "token:matrix-viewer has the viewer role" in error["message"]
    )
    assert error["details"]["required_role"] == "operator" and error["details"]["token_role"] == "viewer"
    assert "matrix-viewer" not in error["hint"]


# --- device credentials on every device route (issue 8, branch edgeup) -----------------------------

DEVICE_CREDENTIALS = {
    "no token": ({}, "401"),
    "wrong device token": ({"Authorization": "Bearer epd_not-a-token"}, "401"),
    "API admin token": (CREDENTIALS["admin"], "401"),
    "task token": (CREDENTIALS["task"], "401"),
    "token of another X-Device-Id": ({"X-Device-Id": "pi-matrix-b", "X-Device-Token": "epd_matrix-a"}, "401"),
    "revoked device": ({"Authorization": "Bearer epd_matrix-revoked"}, "403"),
    "own device token": ({"X-Device-Id": "pi-matrix-a", "X-Device-Token": "epd_matrix-a"}, "allowed"),
}
DEVICE_ROUTES = sorted(route for route, access in EXPECTED.items() if access == "device")


@pytest.fixture
def device_client(client, services):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from eventpulse.devices.tokens import token_hash
    from eventpulse.ports.devices import Device

    now = datetime.now(UTC)
    for device_id, token, status in (
        ("pi-matrix-a", "epd_matrix-a", "active"),
        ("pi-matrix-b", "epd_matrix-b", "active"),
        ("pi-matrix-r", "epd_matrix-revoked", "revoked"),
    ):
        device = Device(
            device_id=device_id,
            status=status,  # type: ignore[arg-type]
            created_at=now,
            created_by="matrix",
            token_hash=token_hash("matrix-pepper", token),
            token_rotated_at=now,
        )
        assert services.devices.create(device)
    return client


@pytest.mark.parametrize("credential", list(DEVICE_CREDENTIALS))
@pytest.mark.parametrize("method, rule", DEVICE_ROUTES)
def test_each_device_credential_gets_exactly_its_outcome(device_client, method, rule, credential) -> None:
    headers, expected = DEVICE_CREDENTIALS[credential]
    content_type = "application/octet-stream" if rule.endswith("/upload") else "application/json"
    response = device_client.open(
        concrete(rule),
        method=method,
        headers={**headers, "Content-Type": content_type},
        data=BODIES.get(rule, b""),
    )
    assert outcome_class(response.status_code) == expected, (response.status_code, response.get_json())
    if expected != "allowed":
        assert response.get_json()["error"]["status"] == int(expected)


# --- device admin (issue 8): a device's own credential opens no admin route -----------------------


@pytest.fixture
def device_credentials(client):  # type: ignore[no-untyped-def]
    made = client.post("/api/devices", json={"device_id": "pi-matrix"}, headers=CREDENTIALS["admin"])
    assert made.status_code == 201, made.get_json()
    token = made.get_json()["device_token"]
    return [{"Authorization": f"Bearer {token}"}, {"X-Device-Id": "pi-matrix", "X-Device-Token": token}]


@pytest.mark.parametrize("method, rule", sorted(DEVICE_ADMIN_ROUTES))
def test_a_device_token_on_a_device_admin_route_is_401(client, device_credentials, method, rule) -> None:
    for credential in device_credentials:
        headers = {**credential, "Content-Type": "application/json"}
        path = concrete(rule).replace("pi-nosuch", "pi-matrix")
        response = client.open(path, method=method, headers=headers, data=BODIES.get(rule, b""))
        assert response.status_code == 401, (credential.keys(), response.get_json())
        assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/edge/ping", headers=device_credentials[0]).status_code == 200

"""Hostile JSON request bodies on every JSON route of the OpenAPI document (real app, real Postgres).

A body nested 100,000 levels deep, one never closed, one not UTF-8, the wrong JSON type, a number too
large for any field, or one past the body limit: each is a 4xx with the one error envelope, never a
500, whichever credentials the caller holds.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from tests.integration.api_support import AUTH, TASK_AUTH

ENROLL_TOKEN = "hostile-bodies-enroll"

DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
BODIES = {
    "deep-object": DEEP,
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "unclosed": b'{"dataset": "edge_telemetry", "path": ',
    "not-utf8": b'{"note": "\xff\xfe\xfa"}',
    "array": b"[1, 2, 3]",
    "huge-number": b'{"dataset": 1' + b"0" * 5000 + b"}",
    "nul": b'{"note": "\x00"}',
}


def json_operations(client: FlaskClient) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation that takes a JSON body."""
    document = client.get("/api/openapi.json").get_json()
    out = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
                out.append((method.upper(), path))
    return out


@pytest.fixture
def client(services) -> FlaskClient:
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="hostile-pepper",
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


@pytest.fixture
def credentials(client) -> dict[str, dict[str, str]]:
    """The headers a caller of each kind of route holds: a device's for /api/edge, else admin + task."""
    enrolled = client.post(
        "/api/edge/enroll",
        json={"device_id": "hostile-1", "enroll_fingerprint": "fp-hostile1"},
        headers={"X-Device-Enroll-Token": ENROLL_TOKEN},
    )
    assert enrolled.status_code in (200, 201), enrolled.get_json()
    device = {"Authorization": f"Bearer {enrolled.get_json()['device_token']}"}
    return {"edge": device, "other": {**AUTH, **TASK_AUTH}}


def headers_for(path: str, credentials: dict[str, dict[str, str]]) -> dict[str, str]:
    if path == "/api/edge/enroll":
        return {"X-Device-Enroll-Token": ENROLL_TOKEN, "Content-Type": "application/json"}
    kind = "edge" if path.startswith("/api/edge/") else "other"
    return {**credentials[kind], "Content-Type": "application/json"}


def test_the_document_has_json_routes_to_try(client) -> None:
    operations = json_operations(client)
    assert len(operations) >= 10, operations  # from_path, from_gcs, approve, contracts, devices...
    assert any(path == "/api/ingest/from_path" for _, path in operations)


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_hostile_json_bodies_get_a_4xx_envelope_on_every_json_route(client, credentials, kind: str) -> None:
    for method, path in json_operations(client):
        ENROLL_WINDOW._hits.clear()
        headers = headers_for(path, credentials)
        response = client.open(path, method=method, data=BODIES[kind], headers=headers)
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.data[:300])
        body = response.get_json()
        assert body and set(body["error"]) >= {"status", "code", "message"}, (method, path, body)
        assert "Traceback" not in response.get_data(as_text=True)


def test_a_body_over_the_limit_is_413_on_every_json_route(client, credentials) -> None:
    big = b'{"note": "' + b"x" * (2 << 20) + b'"}'
    statuses = {}
    for method, path in json_operations(client):
        ENROLL_WINDOW._hits.clear()
        response = client.open(path, method=method, data=big, headers=headers_for(path, credentials))
        statuses[(method, path)] = response.status_code
        assert response.get_json()["error"]["code"], (method, path)
    # The role check comes first (a 403 for the admin-only routes this token may not call); every
    # route the caller may call refuses the body as too large, before reading it.
    assert set(statuses.values()) <= {403, 413}, statuses
    assert sum(s == 413 for s in statuses.values()) >= len(statuses) // 2, statuses

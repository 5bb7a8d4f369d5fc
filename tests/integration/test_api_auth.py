"""Every /api route refuses missing and wrong tokens; internal routes take only the task token."""

from __future__ import annotations

import hashlib
import logging

import pytest

from eventpulse.api.app import create_app
from eventpulse.api.auth import is_token_accepted
from tests.conftest import TEST_TASK_TOKEN, TEST_TOKEN
from tests.integration.api_support import AUTH, TASK_AUTH

ID = "6f1c1d3e-0000-4000-8000-000000000000"
API_ROUTES = [
    ("POST", "/api/ingest/upload?dataset=edge_telemetry&filename=a.csv"),
    ("POST", f"/api/ingestions/{ID}/replay"),
    ("GET", "/api/ingestions"),
    ("GET", f"/api/ingestions/{ID}"),
    ("GET", "/api/datasets"),
    ("GET", "/api/datasets/edge_telemetry/schemas"),
    ("GET", "/api/audit_events"),
    ("POST", "/api/demo/seed/edge_telemetry"),
    ("GET", "/api/no/such/route"),
]
WRONG = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {TEST_TOKEN}"},
    {"Authorization": "Bearer "},
    {"X-Task-Token": TEST_TASK_TOKEN},
]


@pytest.mark.parametrize("method, path", API_ROUTES)
@pytest.mark.parametrize("headers", WRONG)
def test_api_routes_need_a_valid_bearer_token(services, method, path, headers) -> None:
    response = create_app(services).test_client().open(path, method=method, headers=headers, data=b"a,b\n")
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "unauthorized" and "Bearer" in error["hint"]


@pytest.mark.parametrize("headers", [{}, AUTH, {"X-Task-Token": "wrong"}])
def test_internal_route_needs_the_task_token(services, headers) -> None:
    client = create_app(services).test_client()
    response = client.post("/api/ingest/from_path", json={"path": "x/a.csv"}, headers=headers)
    assert response.status_code == 401
    assert "X-Task-Token" in response.get_json()["error"]["hint"]


def test_valid_tokens_pass(services) -> None:
    client = create_app(services).test_client()
    assert client.get("/api/ingestions", headers=AUTH).status_code == 200
    response = client.post("/api/ingest/from_path", json={"path": "x/a.csv"}, headers=TASK_AUTH)
    assert response.status_code == 404  # authenticated; the file simply is not there


def test_disabled_auth_opens_everything_and_warns_once(services, caplog) -> None:
    services.settings = services.settings.with_overrides(auth_disabled=True)
    with caplog.at_level(logging.WARNING, logger="eventpulse.api.auth"):
        client = create_app(services).test_client()
        assert client.get("/api/ingestions").status_code == 200
        assert client.get("/api/datasets").status_code == 200
    assert len([r for r in caplog.records if "DISABLED" in r.getMessage()]) == 1


def test_tokens_never_reach_the_log(services, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        client = create_app(services).test_client()
        client.get("/api/ingestions", headers={"Authorization": "Bearer wrong-secret-value"})
        client.get("/api/ingestions", headers=AUTH)
    assert "wrong-secret-value" not in caplog.text and TEST_TOKEN not in caplog.text


def test_token_check_compares_against_every_digest() -> None:
    digests = tuple(hashlib.sha256(t.encode()).hexdigest() for t in ("one", "two", "three"))
    assert is_token_accepted("three", digests)
    assert not is_token_accepted("four", digests)
    assert not is_token_accepted(None, digests) and not is_token_accepted("one", ())

"""One error envelope for every error kind and endpoint (like Datasette's test_error_shape).

No database is needed: the engine points at a closed port, and every request below fails before (or
instead of) touching it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from eventpulse.adapters.landing_fs import FilesystemLanding
from eventpulse.adapters.postgres.devices import PostgresDeviceRegistry
from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.adapters.postgres.store import PostgresStore
from eventpulse.api.app import create_app
from eventpulse.bootstrap import AppServices
from eventpulse.settings import Settings

TOKEN = "unit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENVELOPE_KEYS = {"status", "code", "message", "hint", "details"}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+pg8000://postgres@127.0.0.1:1/none",
        contracts_dir=tmp_path,
        api_token_sha256=(hashlib.sha256(TOKEN.encode()).hexdigest(),),
        upload_max_bytes=10,
    )
    store = PostgresStore(build_engine(str(settings.database_url)))
    services = AppServices(
        settings=settings,
        store=store,
        landing=FilesystemLanding(settings.raw_dir, settings.tmp_dir),
        devices=PostgresDeviceRegistry(store.engine),
    )
    app = create_app(services)

    def boom() -> str:
        raise RuntimeError("secret detail that must stay in the log")

    app.add_url_rule("/boom", view_func=boom)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CASES = [
    ("GET", "/no/such/page", {}, b"", 404, "not_found"),
    ("POST", "/health", {}, b"", 405, "method_not_allowed"),
    ("GET", "/api/ingestions", {}, b"", 401, "unauthorized"),
    ("POST", "/api/ingest/from_path", AUTH, b"", 401, "unauthorized"),
    ("GET", "/api/ingestions?limit=0", AUTH, b"", 400, "bad_request"),
    ("GET", "/api/ingestions?status=NOPE", AUTH, b"", 400, "bad_request"),
    ("GET", "/api/ingestions/not-a-uuid", AUTH, b"", 400, "bad_request"),
    ("POST", "/api/ingest/upload?dataset=../x&filename=a.csv", AUTH, b"a", 400, "bad_request"),
    ("POST", "/api/ingest/upload?dataset=d&filename=a.exe", AUTH, b"a", 415, "unsupported_media_type"),
    ("POST", "/api/ingest/upload?dataset=d&filename=a.csv", AUTH, b"x" * 11, 413, "payload_too_large"),
    ("GET", "/readyz", {}, b"", 503, "not_ready"),
    ("GET", "/boom", {}, b"", 500, "internal_error"),
]


@pytest.mark.parametrize("method, path, headers, body, status, code", CASES)
def test_every_error_has_the_same_shape(client, method, path, headers, body, status, code) -> None:
    response = client.open(path, method=method, headers=headers, data=body)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    payload = response.get_json()
    assert set(payload) == {"error"}
    error = payload["error"]
    assert set(error) == ENVELOPE_KEYS
    assert error["status"] == status and error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["hint"], str) and isinstance(error["details"], dict)
    assert error["details"]["request_id"] == response.headers["X-Request-Id"]


def test_unexpected_errors_hide_the_traceback(client, caplog) -> None:
    response = client.get("/boom")
    text = response.get_data(as_text=True)
    assert "secret detail" not in text and "Traceback" not in text and "RuntimeError" not in text
    request_id = response.get_json()["error"]["details"]["request_id"]
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_405_lists_the_allowed_methods(client) -> None:
    response = client.delete("/health")
    assert "GET" in response.get_json()["error"]["details"]["allowed_methods"]
    assert "GET" in response.headers["Allow"]


def test_a_safe_caller_request_id_is_kept(client) -> None:
    response = client.get("/nope", headers={"X-Request-Id": "trace-1234abcd"})
    assert response.get_json()["error"]["details"]["request_id"] == "trace-1234abcd"
    hostile = client.get("/nope", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert "<" not in hostile.get_json()["error"]["details"]["request_id"]

"""The Ops API on real Postgres: the runtime configuration hides every secret; table sizes are real."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from eventpulse.api.ops import REDACTED
from eventpulse.bootstrap import build_services
from eventpulse.settings import ApiToken
from tests.conftest import TEST_TASK_TOKEN_SHA256, TEST_TOKEN_SHA256, reset_database
from tests.integration.api_support import AUTH, edge_csv, upload

SECRETS = {
    "task_token": "task-secret-value-42",
    "openlineage_api_key": "lineage-key-secret-43",
    "device_token_pepper": "pepper-secret-value-44",
}
REDIS_PASSWORD = "redis-password-secret-45"
ADMIN_DIGEST = "ab" * 32


@pytest.fixture
def secret_services(settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    configured = dataclasses.replace(
        settings,
        **SECRETS,
        redis_url=f"redis://worker:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        gcs_credentials_file=tmp_path / "sa-key.json",
        api_tokens=(ApiToken(name="ops", role="admin", sha256=ADMIN_DIGEST),),
    )
    svc = build_services(configured)
    reset_database(svc.store.engine)
    yield svc
    svc.close()


@pytest.fixture
def client(secret_services) -> FlaskClient:
    return create_app(secret_services).test_client()


def test_runtime_config_shows_settings_and_no_secret_value(client: FlaskClient) -> None:
    response = client.get("/api/ops/config", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    text = response.get_data(as_text=True)
    digests = [ADMIN_DIGEST, TEST_TOKEN_SHA256, TEST_TASK_TOKEN_SHA256]
    for secret in [*SECRETS.values(), REDIS_PASSWORD, *digests]:
        assert secret not in text
    assert "sa-key.json" not in text
    body = response.get_json()
    settings = body["settings"]
    assert settings["task_token"] == REDACTED and settings["device_token_pepper"] == REDACTED
    assert settings["api_tokens"] == REDACTED and settings["gcs_credentials_file"] == REDACTED
    assert settings["redis_url"] == f"redis://worker:{REDACTED}@127.0.0.1:6379/0"
    assert settings["http_port"] == 8081 and settings["batch_rows"] == 1000
    assert settings["task_oidc_service_account"] is None  # unset, and not a secret
    assert {"task_token", "api_token_sha256", "device_token_pepper"} <= set(body["redacted"])


def test_runtime_config_needs_a_token(client: FlaskClient) -> None:
    response = client.get("/api/ops/config")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]


def test_database_sizes_list_curated_and_metadata_tables(client: FlaskClient, tmp_path: Path) -> None:
    assert upload(client, edge_csv(tmp_path, rows=20).read_bytes()).status_code == 202
    response = client.get("/api/ops/database", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    by_name = {item["table"]: item for item in body["items"]}
    assert {"ingestions", "curated_edge_telemetry"} <= set(by_name), sorted(by_name)
    assert by_name["curated_edge_telemetry"]["total_bytes"] > 0
    assert body["total"] == len(body["items"])
    assert body["total_bytes"] == sum(item["total_bytes"] for item in body["items"])
    sizes = [item["total_bytes"] for item in body["items"]]
    assert sizes == sorted(sizes, reverse=True)

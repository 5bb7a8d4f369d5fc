"""Each ``functions/<name>/main.py`` driven through ``functions_framework.create_app(...).test_client()``.

The functions build their services from the environment (``eventpulse.runtime``), exactly as in
production: these tests set the variables, never inject objects. GCS is fake-gcs-server
(``emulators/gcs.py``); the queue is inline, so a registered file is processed before the answer.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from eventpulse import runtime
from eventpulse.states import Status
from tests.conftest import REPO_ROOT, TEST_TASK_TOKEN_SHA256, TEST_TOKEN_SHA256
from tests.helpers import curated_count
from tests.integration import cloud_support
from tests.integration.api_support import AUTH, TASK_AUTH, edge_csv
from tests.integration.cloud_support import BUCKET, signer_key

gcs_endpoint = cloud_support.gcs_endpoint  # the module-scoped emulator fixture
FUNCTIONS = REPO_ROOT / "functions"
DATASET = "edge_telemetry"
FINALIZED = "google.cloud.storage.object.v1.finalized"


def function_client(name: str, signature_type: str = "http") -> FlaskClient:
    app = functions_framework.create_app(name, str(FUNCTIONS / name / "main.py"), signature_type)
    return app.test_client()


def _base_env(services: Any) -> dict[str, str]:
    settings = services.settings
    return {
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
        "EVENTPULSE_API_TOKEN_SHA256": TEST_TOKEN_SHA256,
        "EVENTPULSE_TASK_TOKEN_SHA256": TEST_TASK_TOKEN_SHA256,
    }


@pytest.fixture
def local_env(services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The functions' environment on the filesystem landing and the inline queue."""
    for key, value in _base_env(services).items():
        monkeypatch.setenv(key, value)
    yield services
    runtime.close_services()


@pytest.fixture
def gcs_env(services, gcs_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The functions' environment on the GCS emulator (raw prefix unique per test) and the inline queue."""
    env = {
        **_base_env(services),
        "EVENTPULSE_LANDING": "gcs",
        "EVENTPULSE_GCS_BUCKET": BUCKET,
        "EVENTPULSE_GCS_ENDPOINT": gcs_endpoint,
        "EVENTPULSE_RAW_PREFIX": f"raw-{uuid.uuid4().hex[:8]}/",
        "EVENTPULSE_GCS_CREDENTIALS_FILE": str(signer_key(tmp_path / "signer.json")),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield services
    runtime.close_services()


def _ingestions(services: Any) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        rows, _ = tx.ingestions.page(limit=100)
    return rows


# --- signed_url -----------------------------------------------------------------------------------


def test_signed_url_refuses_missing_tokens_wrong_methods_and_bad_bodies(local_env) -> None:
    client = function_client("signed_url")
    body = {"dataset": DATASET, "filename": "a.csv"}
    assert client.post("/", json=body).status_code == 401
    assert client.post("/", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers=AUTH).status_code == 405
    missing = client.post("/", json={"filename": "a.csv"}, headers=AUTH)
    assert missing.status_code == 400
    assert missing.get_json()["error"]["details"]["parameter"] == "dataset"
    assert set(missing.get_json()["error"]) == {"status", "code", "message", "hint", "details"}
    assert client.post("/", data=b"not json", headers=AUTH).status_code == 400
    # The filesystem landing cannot sign URLs: a clear 400, not a crash.
    assert client.post("/", json=body, headers=AUTH).status_code == 400


def test_signed_url_checks_a_declared_header_or_columns_before_minting(gcs_env) -> None:
    client = function_client("signed_url")
    body = {"dataset": DATASET, "filename": "a.csv"}
    refused = client.post("/", json={**body, "header": "event_id,event_type,ts"}, headers=AUTH)
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "schema_drift" and "column 'device_id' is missing" in error["message"]
    columns = ["event_id", "device_id", "event_type", "ts"]
    minted = client.post("/", json={**body, "columns": columns}, headers=AUTH)
    assert minted.status_code == 201, minted.get_json()
    assert minted.get_json()["header_check"]["outcome"] == "accept"
    bad = client.post("/", json={**body, "columns": "event_id"}, headers=AUTH)
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["parameter"] == "columns"


def _finalize_event(data: dict[str, Any], *, event_id: str = "evt-1") -> dict[str, str]:
    return {
        "ce-id": event_id,
        "ce-specversion": "1.0",
        "ce-type": FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{data['bucket']}",
        "ce-subject": f"objects/{data.get('name', '')}",
        "ce-time": "2026-11-26T07:00:00Z",
    }


def _post_binary(client: FlaskClient, data: dict[str, Any], event_id: str) -> Any:
    headers = {**_finalize_event(data, event_id=event_id), "Content-Type": "application/json"}
    return client.post("/", data=json.dumps(data), headers=headers)


def _post_structured(client: FlaskClient, data: dict[str, Any], event_id: str) -> Any:
    attributes = {k[3:]: v for k, v in _finalize_event(data, event_id=event_id).items()}
    envelope = {**attributes, "datacontenttype": "application/json", "data": data}
    return client.post(
        "/", data=json.dumps(envelope), headers={"Content-Type": "application/cloudevents+json"}
    )


def test_signed_url_put_then_finalize_events_in_both_modes_load_the_file_once(
    gcs_env, tmp_path: Path
) -> None:
    services = gcs_env
    body = edge_csv(tmp_path, rows=9).read_bytes()
    sha256 = hashlib.sha256(body).hexdigest()
    minted = function_client("signed_url").post(
        "/", json={"dataset": DATASET, "filename": "t.csv", "sha256": sha256}, headers=AUTH
    )
    assert minted.status_code == 201, minted.get_json()
    intent = minted.get_json()
    put = urllib.request.Request(intent["url"], data=body, headers=intent["headers"], method="PUT")
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
        generation = json.load(answer).get("generation", "1")

    data = {
        "bucket": BUCKET,
        "name": intent["object_name"],
        "generation": str(generation),
        "size": str(len(body)),
        "metadata": {"dataset": DATASET, "sha256": sha256},
    }
    finalize = function_client("gcs_finalize", "cloudevent")
    first = _post_binary(finalize, data, "evt-1")
    assert first.status_code == 200
    for n, post in enumerate((_post_structured, _post_binary, _post_structured)):
        assert post(finalize, data, f"evt-again-{n}").status_code == 200  # redeliveries are acknowledged

    [row] = _ingestions(services)
    assert row["status"] == Status.LOADED, row["error"]
    assert curated_count(services, DATASET) == 9


def test_gcs_finalize_acknowledges_objects_outside_raw_and_malformed_events(gcs_env) -> None:
    finalize = function_client("gcs_finalize", "cloudevent")
    outside = {"bucket": BUCKET, "name": "exports/report.csv", "generation": "1", "size": "3"}
    assert _post_binary(finalize, outside, "evt-out").status_code == 200
    assert _post_structured(finalize, {**outside, "bucket": "other"}, "evt-other").status_code == 200
    no_name = {"bucket": BUCKET, "generation": "x"}
    assert _post_binary(finalize, no_name, "evt-bad").status_code == 200
    wrong_type = {
        **_finalize_event(outside, event_id="evt-type"),
        "ce-type": "google.cloud.storage.object.v1.deleted",
    }
    assert finalize.post("/", json=outside, headers=wrong_type).status_code == 200
    assert _ingestions(gcs_env) == []


def test_gcs_finalize_raises_for_a_retryable_failure(gcs_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database is down: the event must not be acknowledged, so Eventarc redelivers it."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://postgres@127.0.0.1:9/nowhere")
    runtime.close_services()
    finalize = function_client("gcs_finalize", "cloudevent")
    data = {
        "bucket": BUCKET,
        "name": f"{runtime.get_services().settings.raw_prefix}{DATASET}/{'a' * 64}.csv",
        "generation": "1",
        "size": "3",
    }
    assert _post_binary(finalize, data, "evt-down").status_code == 500


# --- process_task ---------------------------------------------------------------------------------


def test_process_task_refuses_requests_without_the_task_token(local_env) -> None:
    client = function_client("process_task")
    body = json.dumps({"ingestion_id": str(uuid.uuid4())})
    for headers in ({}, {"X-Task-Token": "wrong"}, AUTH):
        response = client.post("/", data=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code in (401, 403), response.get_data()
    assert client.get("/", headers=TASK_AUTH).status_code == 405


# --- api ------------------------------------------------------------------------------------------


def test_api_function_serves_the_whole_rest_api(local_env, tmp_path: Path) -> None:
    services = local_env
    client = function_client("api")
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    refused = client.get("/api/ingestions")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"

    upload = client.post(
        "/api/ingest/upload",
        query_string={"dataset": DATASET, "filename": "t.csv"},
        data=edge_csv(tmp_path, rows=11).read_bytes(),
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 202, upload.get_json()
    assert upload.get_json()["status"] == Status.LOADED
    assert curated_count(services, DATASET) == 11
    listed = client.get("/api/ingestions", headers=AUTH).get_json()
    assert listed["total"] == 1
    assert client.post("/internal/admin/reclaim", json={}, headers=TASK_AUTH).status_code == 200
    assert client.post("/internal/admin/reclaim", json={}).status_code == 401


# --- edge_enroll, edge_ingest ---------------------------------------------------------------------

ENROLL_TOKEN = "fleet-enroll-secret"


@pytest.fixture
def edge_env(local_env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The functions' environment with enrollment open (a fleet token digest and a pepper)."""
    from eventpulse.api.edge import ENROLL_WINDOW

    monkeypatch.setenv(
        "EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256", hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest()
    )
    monkeypatch.setenv("EVENTPULSE_DEVICE_TOKEN_PEPPER", "functions-test-pepper")
    ENROLL_WINDOW._hits.clear()
    yield local_env


def _enroll(client: FlaskClient, device_id: str) -> Any:
    return client.post(
        "/api/edge/enroll",
        json={"device_id": device_id, "enroll_fingerprint": "fp-functions-1"},
        headers={"X-Device-Enroll-Token": ENROLL_TOKEN},
    )


def _is_404_envelope(response: Any) -> bool:
    body = response.get_json()
    return (
        response.status_code == 404
        and body["error"]["code"] == "not_found"
        and body["error"]["status"] == 404
    )


def test_edge_enroll_enrolls_and_serves_nothing_else(edge_env) -> None:
    client = function_client("edge_enroll")
    enrolled = _enroll(client, "fn-pump-1")
    assert enrolled.status_code == 201, enrolled.get_json()
    assert enrolled.get_json()["created"] is True and enrolled.get_json()["device_token"].startswith("epd_")
    assert edge_env.devices.get("fn-pump-1") is not None
    wrong = client.post(
        "/api/edge/enroll",
        json={"device_id": "fn-pump-2", "enroll_fingerprint": "fp-functions-1"},
        headers={"X-Device-Enroll-Token": "wrong"},
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "unauthorized"
    token = enrolled.get_json()["device_token"]
    # a device route, the API and the health check are other functions' paths here
    assert _is_404_envelope(client.get("/api/edge/ping", headers={"Authorization": f"Bearer {token}"}))
    assert _is_404_envelope(client.get("/api/ingestions", headers=AUTH))
    assert _is_404_envelope(client.get("/health"))
    wrong_method = client.get("/api/edge/enroll")  # refused before routing (no credential): an envelope
    assert wrong_method.status_code in (401, 405) and wrong_method.get_json()["error"]["code"]


def test_edge_ingest_serves_device_routes_with_the_issued_token_and_not_enrollment(edge_env) -> None:
    token = _enroll(function_client("edge_enroll"), "fn-pump-3").get_json()["device_token"]
    client = function_client("edge_ingest")
    ping = client.get("/api/edge/ping", headers={"X-Device-Id": "fn-pump-3", "X-Device-Token": token})
    assert ping.status_code == 200 and ping.get_json() == {"device_id": "fn-pump-3"}
    beat = client.post(
        "/api/edge/heartbeat", json={"spool_depth": 2}, headers={"Authorization": f"Bearer {token}"}
    )
    assert beat.status_code == 200, beat.get_json()
    device = edge_env.devices.get("fn-pump-3")
    assert device is not None and device.health.spool_depth == 2
    assert client.get("/api/edge/ping").status_code == 401
    assert _is_404_envelope(_enroll(client, "fn-pump-4"))
    assert _is_404_envelope(client.post("//api/edge//enroll/", json={}))
    assert edge_env.devices.get("fn-pump-4") is None
    assert _is_404_envelope(client.get("/api/ingestions", headers=AUTH))


def test_the_edge_app_serves_every_edge_route_of_the_api(services) -> None:
    from eventpulse.api.app import create_app
    from eventpulse.api.edge_app import EDGE_PREFIX, create_edge_app

    def routes(app: Any) -> set[tuple[str, str]]:
        return {
            (rule.rule, method)
            for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}
            if rule.rule.startswith(EDGE_PREFIX + "/")
        }

    full, edge = routes(create_app(services)), routes(create_edge_app(services))
    assert full and full == edge, f"add these blueprints to EDGE_BLUEPRINTS: {sorted(full - edge)}"


@pytest.mark.parametrize("name", ["edge_enroll", "edge_ingest"])
def test_edge_functions_cold_import_skips_the_processor_and_the_rest_of_the_api(name: str) -> None:
    import subprocess
    import sys

    probe = (
        "import sys; import main; "
        "print(','.join(m for m in ('pyarrow', 'pandas', 'great_expectations', 'eventpulse.api.admin', "
        "'eventpulse.pipeline.processor') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=FUNCTIONS / name, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", f"{name} imports {done.stdout.strip()} at cold start"

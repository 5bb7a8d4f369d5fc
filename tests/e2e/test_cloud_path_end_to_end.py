"""The whole cloud path on emulators, through the real functions and Google's client libraries:

signed_url → HTTP PUT to fake-gcs-server → the finalize shim posts an Eventarc-shaped CloudEvent to
the gcs_finalize function (served over HTTP) → Cloud Tasks emulator → the process_task function
(served over HTTP) → LOADED. Every function builds its services from the environment, as deployed.
"""

from __future__ import annotations

import hashlib
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from google.cloud import tasks_v2
from werkzeug.serving import make_server

from emulators import finalize_shim
from emulators.cloud_tasks import CloudTasksEmulator, EmulatorError
from eventpulse import runtime
from eventpulse.adapters.queue_cloud_tasks import build_client
from eventpulse.states import TERMINAL, Status
from tests.conftest import REPO_ROOT, TEST_TASK_TOKEN, TEST_TASK_TOKEN_SHA256, TEST_TOKEN_SHA256
from tests.helpers import curated_count, wait_until
from tests.integration import cloud_support
from tests.integration.api_support import AUTH, edge_csv
from tests.integration.cloud_support import BUCKET, signer_key

gcs_endpoint = cloud_support.gcs_endpoint  # the module-scoped GCS emulator fixture
FUNCTIONS = REPO_ROOT / "functions"
PROJECT, LOCATION = "eventpulse-e2e", "us-central1"
DATASET = "edge_telemetry"


@pytest.fixture(scope="module")
def tasks_emulator() -> Iterator[CloudTasksEmulator]:
    emulator = CloudTasksEmulator(queues=(), max_retries=3)
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.fail(str(exc))
    yield emulator
    emulator.stop()


def serve_function(name: str, signature_type: str) -> tuple[str, Callable[[], None]]:
    """Serve functions/<name>/main.py over HTTP on 127.0.0.1, as functions-framework does."""
    app = functions_framework.create_app(name, str(FUNCTIONS / name / "main.py"), signature_type)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{server.server_port}/", stop


@pytest.fixture
def cloud_env(
    services: Any,
    gcs_endpoint: str,
    tasks_emulator: CloudTasksEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """Production wiring on emulators: GCS landing, Cloud Tasks queue, X-Task-Token credentials."""
    client = build_client(tasks_emulator.endpoint)
    queue = f"ingest-{uuid.uuid4().hex[:10]}"
    client.create_queue(
        parent=client.common_location_path(PROJECT, LOCATION),
        queue=tasks_v2.Queue(name=client.queue_path(PROJECT, LOCATION, queue)),
    )
    client.transport.close()
    process_url, stop_process = serve_function("process_task", "http")
    settings = services.settings
    env = {
        "EVENTPULSE_MODE": "cloud",
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
        "EVENTPULSE_API_TOKEN_SHA256": TEST_TOKEN_SHA256,
        "EVENTPULSE_TASK_TOKEN_SHA256": TEST_TASK_TOKEN_SHA256,
        "EVENTPULSE_TASK_TOKEN": TEST_TASK_TOKEN,
        "EVENTPULSE_LANDING": "gcs",
        "EVENTPULSE_GCS_BUCKET": BUCKET,
        "EVENTPULSE_GCS_ENDPOINT": gcs_endpoint,
        "EVENTPULSE_RAW_PREFIX": f"raw-{uuid.uuid4().hex[:8]}/",
        "EVENTPULSE_GCS_CREDENTIALS_FILE": str(signer_key(tmp_path / "signer.json")),
        "EVENTPULSE_QUEUE": "cloud_tasks",
        "EVENTPULSE_GCP_PROJECT": PROJECT,
        "EVENTPULSE_TASKS_LOCATION": LOCATION,
        "EVENTPULSE_TASKS_QUEUE": queue,
        "EVENTPULSE_TASKS_ENDPOINT": tasks_emulator.endpoint,
        "EVENTPULSE_TASK_HANDLER_URL": process_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    stop_process()
    runtime.close_services()


def _only_ingestion(services: Any) -> dict[str, Any]:
    with services.store.read() as tx:
        rows, total = tx.ingestions.page(limit=10)
    assert total == 1, rows
    return rows[0]


def _ingestions(services: Any) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        rows, _ = tx.ingestions.page(limit=10)
    return rows


def _wait_final(services: Any) -> dict[str, Any]:
    wait_until(
        lambda: (rows := _ingestions(services)) and all(Status(r["status"]) in TERMINAL for r in rows),
        "every ingestion to reach a final status",
        timeout=90,
        interval=0.1,
        describe=lambda: [(r["id"], r["status"]) for r in _ingestions(services)],
    )
    return _only_ingestion(services)


def _created_tasks(emulator: CloudTasksEmulator, queue: str) -> list[str]:
    """The tasks the emulator created on ``queue``, in order: its log records each CreateTask it accepts
    (a duplicate name is refused with ALREADY_EXISTS before that line)."""
    marker = f"Created task projects/{PROJECT}/locations/{LOCATION}/queues/{queue}/tasks/"
    return [line.split(marker, 1)[1].strip() for line in emulator.log_text().splitlines() if marker in line]


def _pending_tasks(emulator: CloudTasksEmulator, queue: str) -> list[str]:
    client = build_client(emulator.endpoint)
    try:
        return [t.name for t in client.list_tasks(parent=client.queue_path(PROJECT, LOCATION, queue)).tasks]
    finally:
        client.transport.close()


def test_signed_upload_flows_through_finalize_and_cloud_tasks_to_loaded_exactly_once(
    services: Any, cloud_env: dict[str, str], tasks_emulator: CloudTasksEmulator, tmp_path: Path
) -> None:
    body = edge_csv(tmp_path, rows=25).read_bytes()
    sha256 = hashlib.sha256(body).hexdigest()

    # 1. signed_url mints a create-only PUT for the upload intent.
    signer = functions_framework.create_app(
        "signed_url", str(FUNCTIONS / "signed_url" / "main.py"), "http"
    ).test_client()
    minted = signer.post(
        "/", json={"dataset": DATASET, "filename": "field.csv", "sha256": sha256}, headers=AUTH
    )
    assert minted.status_code == 201, minted.get_json()
    intent = minted.get_json()
    assert intent["object_name"].startswith(cloud_env["EVENTPULSE_RAW_PREFIX"])

    # 2. The device PUTs the bytes to the bucket with the headers it was given.
    put = urllib.request.Request(intent["url"], data=body, headers=intent["headers"], method="PUT")
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200

    # 3. The shim turns the new object into a CloudEvent posted to the served gcs_finalize function,
    #    which registers it and creates a Cloud Task; the emulator posts that to process_task.
    finalize_url, stop_finalize = serve_function("gcs_finalize", "cloudevent")
    cursor = finalize_shim.Cursor(None)
    try:
        delivered = finalize_shim.run(
            BUCKET,
            finalize_url,
            once=True,
            endpoint=cloud_env["EVENTPULSE_GCS_ENDPOINT"],
            prefix=cloud_env["EVENTPULSE_RAW_PREFIX"],
            cursor=cursor,
        )
        assert delivered == 1
        row = _wait_final(services)
        assert row["status"] == Status.LOADED, row["error"]
        assert row["raw_key"] == intent["object_name"]
        assert curated_count(services, DATASET) == 25

        # 4. The same event again (Eventarc is at-least-once), and a fresh shim with no memory:
        #    still one ingestion and one curated effect.
        again = finalize_shim.run(
            BUCKET,
            finalize_url,
            once=True,
            endpoint=cloud_env["EVENTPULSE_GCS_ENDPOINT"],
            prefix=cloud_env["EVENTPULSE_RAW_PREFIX"],
            cursor=finalize_shim.Cursor(None),
        )
        assert again == 1
    finally:
        stop_finalize()
    # The repeated event has been answered, so any task it made is already in the emulator's record:
    # one task ever created, none pending, so no second delivery can come.
    queue = cloud_env["EVENTPULSE_TASKS_QUEUE"]
    assert _created_tasks(tasks_emulator, queue) == [f"ingest-{row['id']}"]
    assert _pending_tasks(tasks_emulator, queue) == []
    assert _only_ingestion(services)["id"] == row["id"]
    assert curated_count(services, DATASET) == 25
    assert curated_count(services, DATASET, ingestion_id=row["id"]) == 25

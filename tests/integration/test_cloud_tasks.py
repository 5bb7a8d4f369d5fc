"""Cloud Tasks end to end on the real emulator, through Google's client library.

CloudTasksQueue creates the task → the emulator POSTs it to a real HTTP server on 127.0.0.1 (werkzeug,
the WSGI server under functions-framework) → ``handle_task`` → the pipeline on real Postgres. The
emulator retries every non-2xx answer, as Cloud Tasks does, at most MAX_RETRIES times here.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2
from sqlalchemy import text
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from emulators.cloud_tasks import CloudTasksEmulator, EmulatorError
from eventpulse.adapters.queue_cloud_tasks import MAX_DISPATCH_DEADLINE_SECONDS, CloudTasksQueue, build_client
from eventpulse.cloud.tasks import handle_task
from eventpulse.landing.register import register_path
from eventpulse.states import Status
from tests.conftest import TEST_TASK_TOKEN
from tests.helpers import curated_count, wait_until
from tests.integration.api_support import edge_csv

MAX_RETRIES = 3
PROJECT, LOCATION = "eventpulse-test", "us-central1"


@pytest.fixture(scope="module")
def emulator() -> Iterator[CloudTasksEmulator]:
    emu = CloudTasksEmulator(queues=(), max_retries=MAX_RETRIES)
    try:
        emu.start()
    except EmulatorError as exc:
        pytest.fail(str(exc))
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def client(emulator: CloudTasksEmulator) -> Iterator[tasks_v2.CloudTasksClient]:
    client = build_client(emulator.endpoint)
    yield client
    client.transport.close()


@dataclass
class Delivery:
    task: str
    retry_count: str
    token: str | None
    status: int
    answer: dict[str, Any]


@dataclass
class TaskHandler:
    """A WSGI app that serves handle_task like the process_task function, and records each delivery."""

    services: Any
    fail_first: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        status, answer = handle_task(self.services, body=request.get_data(), headers=dict(request.headers))
        with self.lock:
            first = not self.deliveries
            if self.fail_first and first:  # processed, but the answer is lost: Cloud Tasks sees a 500
                status, answer = 500, {"error": {"code": "injected", "message": "first answer fails"}}
            self.deliveries.append(
                Delivery(
                    request.headers.get("X-CloudTasks-TaskName", ""),
                    request.headers.get("X-CloudTasks-TaskRetryCount", ""),
                    request.headers.get("X-Task-Token"),
                    status,
                    answer,
                )
            )
        response = Response(json.dumps(answer), status=status, mimetype="application/json")
        return response(environ, start_response)

    def statuses(self) -> list[int]:
        with self.lock:
            return [d.status for d in self.deliveries]


@pytest.fixture
def handler(services: Any) -> Iterator[tuple[TaskHandler, str]]:
    app = TaskHandler(services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}/process_task"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def queue_path(client: tasks_v2.CloudTasksClient) -> str:
    name = f"ingest-{uuid.uuid4().hex[:10]}"
    path = client.queue_path(PROJECT, LOCATION, name)
    client.create_queue(
        parent=client.common_location_path(PROJECT, LOCATION), queue=tasks_v2.Queue(name=path)
    )
    return path


def _tasks_queue(services: Any, emulator: CloudTasksEmulator, queue_path: str, url: str, **over: Any) -> Any:
    settings = services.settings.with_overrides(
        queue="cloud_tasks",
        gcp_project=PROJECT,
        tasks_location=LOCATION,
        tasks_queue=queue_path.rsplit("/", 1)[1],
        tasks_endpoint=emulator.endpoint,
        task_handler_url=url,
        task_token=TEST_TASK_TOKEN,
        **over,
    )
    services.queue = CloudTasksQueue.from_settings(settings)
    return services.queue


def _register(services: Any, path: Path) -> uuid.UUID:
    registration = register_path(services, path=path, dataset="edge_telemetry", source="test", actor="test")
    return uuid.UUID(str(registration.ingestion["id"]))


def _row(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def _transitions(services: Any, ingestion_id: uuid.UUID) -> list[str | None]:
    with services.store.read() as tx:
        events, _ = tx.audit.page(entity_id=str(ingestion_id), limit=100)
    return [e["details"].get("to") for e in reversed(events) if e["action"] == "ingestion.transition"]


def test_an_enqueued_ingestion_is_dispatched_by_cloud_tasks_and_loaded(
    services, emulator, client, queue_path, handler, tmp_path: Path
) -> None:
    app, url = handler
    queue = _tasks_queue(services, emulator, queue_path, url)
    client.pause_queue(name=queue_path)  # look at the task before it is dispatched
    ingestion_id = _register(services, edge_csv(tmp_path, rows=120))

    (task,) = client.list_tasks(parent=queue_path).tasks
    assert task.name == f"{queue_path}/tasks/ingest-{ingestion_id}"
    assert task.http_request.url == url
    assert json.loads(task.http_request.body) == {"ingestion_id": str(ingestion_id)}
    assert task.http_request.headers["X-Task-Token"] == TEST_TASK_TOKEN
    assert not task.http_request.oidc_token.service_account_email
    assert task.dispatch_deadline.seconds == min(services.settings.job_timeout_seconds, 1800)
    assert queue.dispatch_deadline_seconds <= MAX_DISPATCH_DEADLINE_SECONDS

    client.resume_queue(name=queue_path)
    wait_until(lambda: app.statuses() == [200], "one successful delivery", describe=app.statuses)
    row = _row(services, ingestion_id)
    assert (row["status"], row["attempts"], row["rows_loaded"]) == (Status.LOADED, 1, 120)
    delivery = app.deliveries[0]
    assert (delivery.task, delivery.token) == (f"ingest-{ingestion_id}", TEST_TASK_TOKEN)
    assert delivery.answer == {
        "ingestion_id": str(ingestion_id),
        "status": "LOADED",
        "processed": True,
        "outcome": "processed",
    }


def test_a_500_answer_is_redelivered_and_the_file_has_one_curated_effect(
    services, emulator, client, queue_path, handler, tmp_path: Path
) -> None:
    app, url = handler
    app.fail_first = True
    _tasks_queue(services, emulator, queue_path, url)

    ingestion_id = _register(services, edge_csv(tmp_path, rows=300, seed=11))

    wait_until(
        lambda: app.statuses() == [500, 200],
        "a failed delivery, then a successful redelivery",
        describe=app.statuses,
    )
    assert [d.retry_count for d in app.deliveries] == ["0", "1"]
    assert app.deliveries[1].answer["outcome"] == "duplicate"
    row = _row(services, ingestion_id)
    assert (row["status"], row["attempts"], row["rows_loaded"]) == (Status.LOADED, 1, 300)
    with services.store.engine.connect() as conn:
        total, distinct = conn.execute(
            text("SELECT count(*), count(DISTINCT event_id) FROM curated_edge_telemetry")
        ).one()
    assert total == distinct == 300
    assert _transitions(services, ingestion_id) == ["PROCESSING", "LOADED"]
    wait_until(lambda: not client.list_tasks(parent=queue_path).tasks, "the task to leave the queue")


def test_a_duplicate_enqueue_makes_one_task_and_a_later_one_a_harmless_redelivery(
    services, emulator, client, queue_path, handler, tmp_path: Path
) -> None:
    app, url = handler
    queue = _tasks_queue(services, emulator, queue_path, url)
    client.pause_queue(name=queue_path)
    ingestion_id = _register(services, edge_csv(tmp_path, rows=40, seed=12))

    queue.enqueue(ingestion_id)
    queue.enqueue(ingestion_id)

    assert [t.name for t in client.list_tasks(parent=queue_path).tasks] == [queue.task_name(ingestion_id)]
    client.resume_queue(name=queue_path)
    wait_until(lambda: app.statuses() == [200], "one delivery", describe=app.statuses)
    assert _row(services, ingestion_id)["status"] == Status.LOADED

    # The name stays taken after the task ran (as in Cloud Tasks); a new request is a new delivery.
    queue.enqueue(ingestion_id)
    queue.enqueue(ingestion_id)
    wait_until(lambda: app.statuses() == [200, 200], "the redelivery", describe=app.statuses)
    assert app.deliveries[1].task.startswith(f"ingest-{ingestion_id}-r")
    assert app.deliveries[1].answer["outcome"] == "duplicate"
    row = _row(services, ingestion_id)
    assert (row["attempts"], curated_count(services, "edge_telemetry", ingestion_id=ingestion_id)) == (1, 40)

    # A request after that redelivery ran, in the same minute (a worker killed twice and reclaimed
    # twice): a third delivery, not a request swallowed by the taken per-minute name.
    queue.enqueue(ingestion_id)
    wait_until(lambda: app.statuses() == [200, 200, 200], "a third delivery", describe=app.statuses)
    assert app.deliveries[2].task.startswith(f"ingest-{ingestion_id}-r")
    assert app.deliveries[2].task != app.deliveries[1].task


@pytest.mark.parametrize(("token", "expected"), [(None, 401), ("not-the-task-token", 403)])
def test_a_task_without_a_valid_token_is_refused_and_given_up_after_bounded_retries(
    services, emulator, client, queue_path, handler, tmp_path: Path, token: str | None, expected: int
) -> None:
    app, url = handler
    queue = _tasks_queue(services, emulator, queue_path, url)
    queue._task_token = token  # what a misconfigured enqueuer would send
    ingestion_id = _register(services, edge_csv(tmp_path, rows=5, seed=13))

    # Cloud Tasks retries 4xx too, up to the queue's max attempts, then drops the task.
    wait_until(lambda: len(app.deliveries) == MAX_RETRIES + 1, "every allowed attempt", describe=app.statuses)
    wait_until(lambda: not client.list_tasks(parent=queue_path).tasks, "the task to be given up")
    assert app.statuses() == [expected] * (MAX_RETRIES + 1)
    assert app.deliveries[0].answer["error"]["code"] == ("unauthorized" if expected == 401 else "forbidden")
    assert "Traceback" not in json.dumps(app.deliveries[0].answer)
    row = _row(services, ingestion_id)
    assert (row["status"], row["attempts"]) == (Status.RECEIVED, 0)  # reclaim re-delivers it later


# --- handle_task's mapping without the emulator -------------------------------------------------

TOKEN = {"X-Task-Token": TEST_TASK_TOKEN}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"ingestion_id": 5}',
        b'{"ingestion_id": "nope"}',
        b"{" + b" " * 20000 + b"}",
    ],
)
def test_a_poison_task_is_acknowledged_so_it_is_not_retried(services, body: bytes) -> None:
    status, answer = handle_task(services, body=body, headers=TOKEN)
    assert (status, answer["outcome"], answer["error"]["code"]) == (200, "rejected", "bad_task")


def test_an_unknown_ingestion_is_acknowledged(services) -> None:
    body = json.dumps({"ingestion_id": str(uuid.uuid4())}).encode()
    status, answer = handle_task(services, body=body, headers={"x-task-token": TEST_TASK_TOKEN})
    assert (status, answer["outcome"], answer["status"]) == (200, "unknown_ingestion", None)


def test_an_ingestion_in_flight_elsewhere_answers_503_so_the_task_stays_alive(
    services, tmp_path: Path
) -> None:
    from tests.helpers import RecordingQueue

    services.queue = RecordingQueue()
    ingestion_id = _register(services, edge_csv(tmp_path, rows=5, seed=14))
    with services.store.transaction() as tx:
        assert tx.ingestions.claim(ingestion_id, worker="another-worker") is not None
    body = json.dumps({"ingestion_id": str(ingestion_id)}).encode()

    status, answer = handle_task(services, body=body, headers=TOKEN)

    assert (status, answer["error"]["code"], answer["error"]["details"]["status"]) == (
        503,
        "in_flight",
        "PROCESSING",
    )


def test_an_oidc_request_is_trusted_only_in_cloud_mode_with_a_tasks_service_account(services) -> None:
    body = json.dumps({"ingestion_id": str(uuid.uuid4())}).encode()
    bearer = {"Authorization": "Bearer eyJ.signed-by-google.sig"}
    assert handle_task(services, body=body, headers=bearer)[0] == 401
    cloud = services.settings.with_overrides(
        mode="cloud", task_oidc_service_account="tasks@p.iam.gserviceaccount.com"
    )
    services.settings = cloud
    assert handle_task(services, body=body, headers=bearer)[0] == 200
    assert handle_task(services, body=body, headers={})[0] == 401
    assert handle_task(services, body=body, headers={**bearer, "X-Task-Token": "wrong"})[0] == 403

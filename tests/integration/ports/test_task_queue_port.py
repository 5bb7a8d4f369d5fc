"""The TaskQueue port's behaviour, one suite for every adapter: inline, RQ (real Redis and a real
``eventpulse worker``), Cloud Tasks (the real emulator dispatching to a real HTTP handler).

The contract: ``enqueue`` delivers the ingestion to a worker at least once, and delivering twice is
harmless: the file ends LOADED once, with one curated effect.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventpulse.ports import NewIngestion
from eventpulse.states import Status
from tests.conftest import TEST_TASK_TOKEN
from tests.helpers import curated_count, wait_until
from tests.integration.api_support import edge_csv

ROWS = 40


@dataclass
class QueueUnderTest:
    queue: Any
    drain: Callable[[], None]
    """Let the adapter's workers run until the queue is empty (a no-op where delivery is immediate)."""


def _inline(request: pytest.FixtureRequest) -> Iterator[QueueUnderTest]:
    yield QueueUnderTest(request.getfixturevalue("services").queue, lambda: None)


def _rq(request: pytest.FixtureRequest) -> Iterator[QueueUnderTest]:
    harness = request.getfixturevalue("rq_harness")  # its own queue; its Redis keys go afterwards

    def drain() -> None:
        harness.run_worker()  # a real `eventpulse worker --burst`, until the queue is empty

    yield QueueUnderTest(harness.queue, drain)


def _cloud_tasks(request: pytest.FixtureRequest) -> Iterator[QueueUnderTest]:
    services = request.getfixturevalue("services")
    from google.cloud import tasks_v2
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from emulators.cloud_tasks import CloudTasksEmulator, EmulatorError
    from eventpulse.adapters.queue_cloud_tasks import CloudTasksQueue, build_client
    from eventpulse.cloud.tasks import handle_task

    answers: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        status, body = handle_task(services, body=request.get_data(), headers=dict(request.headers))
        answers.append(status)
        return Response(str(body), status=status)(environ, start_response)

    emulator = CloudTasksEmulator(queues=(), max_retries=3)
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.fail(str(exc))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = build_client(emulator.endpoint)
    project, location, name = "eventpulse-test", "us-central1", f"port-{uuid.uuid4().hex[:8]}"
    path = client.queue_path(project, location, name)
    client.create_queue(
        parent=client.common_location_path(project, location), queue=tasks_v2.Queue(name=path)
    )
    settings = services.settings.with_overrides(
        queue="cloud_tasks",
        gcp_project=project,
        tasks_location=location,
        tasks_queue=name,
        tasks_endpoint=emulator.endpoint,
        task_handler_url=f"http://127.0.0.1:{server.server_port}/process_task",
        task_token=TEST_TASK_TOKEN,
    )
    queue = CloudTasksQueue.from_settings(settings)

    def drain() -> None:
        wait_until(
            lambda: answers and not client.list_tasks(parent=path).tasks,
            "the emulator to dispatch every task",
            timeout=90,
            describe=lambda: f"answers {answers}",
        )

    yield QueueUnderTest(queue, drain)
    queue.close()
    client.transport.close()
    server.shutdown()
    emulator.stop()


ADAPTERS = {"inline": _inline, "rq": _rq, "cloud_tasks": _cloud_tasks}


@pytest.fixture(params=sorted(ADAPTERS))
def under_test(request: pytest.FixtureRequest) -> Iterator[QueueUnderTest]:
    yield from ADAPTERS[request.param](request)


def _register_only(services: Any, tmp_path: Path) -> uuid.UUID:
    """A landed, registered ingestion that no queue has seen yet."""
    path = edge_csv(tmp_path, rows=ROWS, seed=int(uuid.uuid4().int % 10_000))
    raw = services.landing.put_file("edge_telemetry", path.name, path)
    new = NewIngestion(
        dataset="edge_telemetry",
        filename=path.name,
        source="test",
        raw_key=raw.key,
        sha256=raw.sha256,
        size_bytes=raw.size_bytes,
        max_attempts=3,
        created_by="test",
    )
    with services.store.transaction() as tx:
        row, _ = tx.ingestions.register(new)
    return uuid.UUID(str(row["id"]))


def test_an_enqueued_ingestion_is_delivered_and_loaded(
    services: Any, under_test: QueueUnderTest, tmp_path
) -> None:
    ingestion = _register_only(services, tmp_path)
    under_test.queue.enqueue(ingestion)
    under_test.drain()
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion)
    assert row is not None and row["status"] == Status.LOADED, row
    assert curated_count(services, "edge_telemetry", ingestion_id=ingestion) == ROWS


def test_delivering_twice_has_one_effect(services: Any, under_test: QueueUnderTest, tmp_path) -> None:
    ingestion = _register_only(services, tmp_path)
    under_test.queue.enqueue(ingestion)
    under_test.queue.enqueue(ingestion)
    under_test.drain()
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion)
        claims = [
            e
            for e in tx.audit.page(entity_id=str(ingestion), limit=100).items
            if e["details"].get("to") == Status.PROCESSING
        ]
    assert row is not None and row["status"] == Status.LOADED and row["attempts"] == 1
    assert len(claims) == 1
    assert curated_count(services, "edge_telemetry") == ROWS

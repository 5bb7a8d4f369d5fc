"""Backpressure at the intake on real Postgres: past the backlog limits, new files get 429 with
Retry-After and the envelope, nothing is landed or registered, and /readyz shows the queue depth;
the edge agent keeps a refused batch and sends it once the queue drains (docs/RELIABILITY.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.landing.register import register_path
from eventpulse.states import TERMINAL, Status
from tests.helpers import RecordingQueue, curated_count
from tests.integration.api_support import AUTH, TASK_AUTH, edge_csv, upload
from tests.integration.test_edge_api import ENROLL_TOKEN
from tests.unit.test_edge_client_agent import Clock, _agent

DATASET = "edge_telemetry"


@pytest.fixture
def limited(services: Any) -> Any:
    """Limits of 3 waiting overall and 2 per source, counted afresh on every request."""
    services.settings = services.settings.with_overrides(
        intake_max_waiting=3, intake_max_waiting_per_source=2, intake_backlog_cache_seconds=0.0
    )
    return services


def fill_backlog(
    services: Any, tmp_path: Path, n: int, source: str, dataset: str = DATASET
) -> list[uuid.UUID]:
    """``n`` registered ingestions of ``source`` that no worker has taken: they wait (RECEIVED)."""
    inline, services.queue = services.queue, RecordingQueue()
    try:
        ids = []
        for i in range(n):
            path = tmp_path / f"wait-{source.replace(':', '_')}-{i}.csv"
            path.write_text(f"event_id\nwaiting-{source}-{i}\n")
            reg = register_path(services, path=path, dataset=dataset, source=source, actor="test")
            ids.append(reg.ingestion["id"])
        return ids
    finally:
        services.queue = inline


def _registered(services: Any) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestions)).scalar_one())


def test_an_upload_past_the_backlog_limit_gets_429_with_retry_after_and_nothing_is_kept(
    limited, tmp_path
) -> None:
    fill_backlog(limited, tmp_path, 2, "api-a")
    fill_backlog(limited, tmp_path, 1, "api-b")
    client = create_app(limited).test_client()
    body = edge_csv(tmp_path, seed=11).read_bytes()

    refused = upload(client, body, source="api-c")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    error = refused.get_json()["error"]
    assert (error["status"], error["code"]) == (429, "overloaded")
    assert "3 ingestions wait for a worker (limit 3)" in error["message"]
    assert "EVENTPULSE_INTAKE_MAX_WAITING" in error["hint"]
    assert error["details"]["limit"] == "intake_max_waiting" and error["details"]["retry_after_seconds"] == 30
    assert error["details"]["request_id"]
    assert _registered(limited) == 3  # nothing registered
    sha = hashlib.sha256(body).hexdigest()
    assert not list(limited.settings.raw_dir.rglob(f"{sha}*"))  # nothing landed


def test_below_the_limits_an_upload_is_accepted_and_processed(limited, tmp_path) -> None:
    fill_backlog(limited, tmp_path, 1, "api-a")
    client = create_app(limited).test_client()
    accepted = upload(client, edge_csv(tmp_path, seed=12).read_bytes(), source="api-b")
    assert accepted.status_code == 202, accepted.get_json()
    assert accepted.get_json()["status"] == Status.LOADED


def test_one_busy_source_is_refused_while_another_is_accepted(limited, tmp_path) -> None:
    fill_backlog(limited, tmp_path, 2, "api-busy")
    client = create_app(limited).test_client()
    refused = upload(client, edge_csv(tmp_path, seed=13).read_bytes(), source="api-busy")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    details = refused.get_json()["error"]["details"]
    assert (details["limit"], details["source"], details["waiting"]) == (
        "intake_max_waiting_per_source",
        "api-busy",
        2,
    )
    assert upload(client, edge_csv(tmp_path, seed=14).read_bytes(), source="api-quiet").status_code == 202


def test_readyz_and_the_queue_stats_show_the_depth_and_who_is_shed(limited, tmp_path) -> None:
    fill_backlog(limited, tmp_path, 2, "api-a")
    fill_backlog(limited, tmp_path, 1, "device:rpi-9")
    client = create_app(limited).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200  # a full queue is not an unready server
    assert ready.get_json()["queue"] == {
        "waiting": 3,
        "processing": 0,
        "max_waiting": 3,
        "max_waiting_per_source": 2,
        "shedding": True,
        "shedding_sources": ["api-a"],
    }
    stats = client.get("/api/stats/queue", headers=AUTH).get_json()
    assert stats["by_source"] == {"api-a": 2, "device:rpi-9": 1} and stats["waiting"] == 3


def test_from_path_and_from_gcs_are_shed_and_the_incoming_file_stays(limited, tmp_path) -> None:
    fill_backlog(limited, tmp_path, 3, "from_path")
    incoming = limited.settings.incoming_dir / DATASET
    incoming.mkdir(parents=True)
    (incoming / "late.csv").write_bytes(edge_csv(tmp_path, seed=15).read_bytes())
    client = create_app(limited).test_client()
    refused = client.post("/api/ingest/from_path", json={"path": f"{DATASET}/late.csv"}, headers=TASK_AUTH)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert (incoming / "late.csv").is_file()  # not archived: the next delivery registers it
    backfill = client.post(
        "/api/ingest/from_gcs", json={"bucket": "raw", "name": "raw/x.csv"}, headers=TASK_AUTH
    )
    assert backfill.status_code == 429 and backfill.get_json()["error"]["code"] == "overloaded"


def test_the_count_is_cached_so_a_burst_runs_one_count(services, tmp_path) -> None:
    services.settings = services.settings.with_overrides(
        intake_max_waiting=2, intake_backlog_cache_seconds=60.0
    )
    client = create_app(services).test_client()
    assert client.get("/readyz").get_json()["queue"]["waiting"] == 0  # counted now, kept for 60 s
    fill_backlog(services, tmp_path, 2, "api")
    assert client.get("/readyz").get_json()["queue"]["waiting"] == 0
    assert upload(client, edge_csv(tmp_path, seed=16).read_bytes()).status_code == 202
    fresh = create_app(services).test_client()  # another process: its own count
    assert fresh.get("/readyz").get_json()["queue"]["waiting"] == 2


@pytest.fixture
def live(limited: Any) -> Iterator[str]:
    """The real API on a loopback port, with device enrolment configured."""
    limited.settings = limited.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="test-pepper",
    )
    ENROLL_WINDOW._hits.clear()
    server = make_server("127.0.0.1", 0, create_app(limited), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_the_edge_agent_keeps_a_shed_batch_waits_retry_after_and_sends_it_once_the_queue_drains(
    live, limited, tmp_path
) -> None:
    clock = Clock()
    agent = _agent(tmp_path, live, clock, enroll_token=ENROLL_TOKEN)
    waiting = fill_backlog(limited, tmp_path, 2, "device:pi-7")  # this device's queue is full

    agent.tick()  # enrolls, samples, uploads: 429
    assert agent.blocked_until == clock.now + 30.0  # Retry-After, longer than the 2 s backoff
    (shed,) = agent.spool.pending()  # the batch is kept, byte for byte
    assert "waiting for a worker" in agent.last_error and curated_count(limited, DATASET) == 0

    for ingestion_id in waiting:  # the workers catch up
        limited.queue.enqueue(ingestion_id)
    with limited.store.read() as tx:  # drained: nothing of this device waits any more (the fillers fail)
        drained = {str(i): (tx.ingestions.get(i) or {}).get("status") for i in waiting}
    assert set(drained.values()) <= {s.value for s in TERMINAL}, drained
    clock.now = agent.blocked_until + 1
    for _ in range(5):  # on a loaded machine an upload may time out once: the agent retries it
        agent.tick()
        if not agent.spool.pending():
            break
        clock.now = max(clock.now, agent.blocked_until) + 1
    assert agent.spool.pending() == [], agent.last_error
    event_ids = {json.loads(line)["event_id"] for line in shed.payload.decode().splitlines()}
    with limited.store.engine.connect() as conn:
        loaded = set(conn.execute(text("SELECT event_id FROM curated_edge_telemetry")).scalars())
    assert event_ids <= loaded  # every event of the shed batch loaded, once the queue drained

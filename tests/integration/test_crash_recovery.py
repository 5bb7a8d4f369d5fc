"""Crash recovery of the whole pipeline on real Postgres: a worker killed mid-load leaves no trace in the
curated table, its claim is reclaimed, and the retry loads every row exactly once.

The worker runs in a child process (crash_pipeline_helper.py) that is SIGKILLed while its backend runs
the COPY into staging or the INSERT into the curated table, as seen in pg_stat_activity.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.heartbeat import Heartbeat
from eventpulse.pipeline.processor import ProcessResult, process_ingestion
from eventpulse.pipeline.reclaim import ReclaimReport, reclaim_stale
from eventpulse.states import Status
from tests.helpers import (
    RecordingQueue,
    child_worker_env,
    curated_count,
    ingest,
    wait_for_backends_gone,
    wait_for_query,
    wait_until,
)
from tests.integration.api_support import edge_csv

HELPER = Path(__file__).with_name("crash_pipeline_helper.py")
BIG_ROWS = 150_000
BASELINE_ROWS = 50
PHASES = {
    # Postgres regular expressions over pg_stat_activity.query of the worker's load connection.
    "copy_into_staging": r'^\s*COPY\s+"?eventpulse_stage_',
    "insert_into_curated": r'(INSERT|MERGE)\s+INTO\s+"?curated_parcels"?\s',
}


@pytest.fixture(scope="module")
def parcel_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 150k-row parcels CSV and a small one whose primary keys are disjoint from it."""
    out = tmp_path_factory.mktemp("crash-parcels")
    big, small = seed_files("parcels", out, limit=BIG_ROWS + BASELINE_ROWS, per_ingestion_max=BIG_ROWS)
    return big, small


@pytest.fixture
def recorder(services: Any) -> RecordingQueue:
    """Swap the services' queue for a recorder: registering then processes nothing."""
    services.queue = RecordingQueue()
    return services.queue  # type: ignore[no-any-return]


def _row(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def _register(services: Any, path: Path, dataset: str) -> uuid.UUID:
    registration = register_path(services, path=path, dataset=dataset, source="test", actor="test")
    return uuid.UUID(str(registration.ingestion["id"]))


def _transitions(services: Any, ingestion_id: uuid.UUID) -> list[tuple[str, str | None, str]]:
    """(action, target state, actor) of the ingestion's registration and transitions, oldest first."""
    with services.store.read() as tx:
        events, _ = tx.audit.page(entity_id=str(ingestion_id), limit=500)
    return [
        (e["action"], e["details"].get("to"), e["actor"])
        for e in reversed(events)
        if e["action"] in ("ingestion.registered", "ingestion.transition")
    ]


def _reclaim_when_stale(services: Any, *, older_than_seconds: float, deadline: float = 15.0) -> ReclaimReport:
    """Poll reclaim_stale until it reclaims something (the heartbeat must first age past the threshold)."""
    return wait_until(
        lambda: reclaim_stale(services, older_than_seconds=older_than_seconds) or None,
        "reclaim to release a stale claim",
        timeout=deadline,
    )


def _start_worker(services: Any, ingestion_id: uuid.UUID, app_name: str, log_dir: Path) -> subprocess.Popen:
    env = child_worker_env(services.settings, app_name=app_name, EVENTPULSE_BATCH_ROWS="2000")
    with open(log_dir / "worker.out", "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(HELPER), str(ingestion_id)], env=env, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
@pytest.mark.parametrize("phase", sorted(PHASES))
def test_worker_killed_mid_load_leaves_no_rows_and_the_reclaimed_retry_loads_each_row_once(
    services, parcel_files, tmp_path: Path, phase: str
) -> None:
    big, small = parcel_files
    baseline = ingest(services, small, "parcels")  # an earlier load, with other keys
    assert baseline["status"] == Status.LOADED, baseline["error"]
    inline = services.queue
    services.queue = recorder = RecordingQueue()
    ingestion_id = _register(services, big, "parcels")
    assert recorder.ids == [ingestion_id]

    app_name = f"eventpulse-crash-{uuid.uuid4().hex[:12]}"
    child = _start_worker(services, ingestion_id, app_name, tmp_path)
    try:
        wait_for_query(services, app_name, PHASES[phase], child, tmp_path / "worker.out")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    wait_for_backends_gone(services, app_name)

    # Nothing of the killed load is visible; the earlier load is intact; the claim is still held.
    assert curated_count(services, "parcels", ingestion_id=ingestion_id) == 0
    assert curated_count(services, "parcels", ingestion_id=baseline["id"]) == BASELINE_ROWS
    assert curated_count(services, "parcels") == BASELINE_ROWS
    crashed = _row(services, ingestion_id)
    assert (crashed["status"], crashed["attempts"]) == (Status.PROCESSING, 1)
    assert crashed["claimed_by"] == f"crash-helper:{child.pid}"

    report = _reclaim_when_stale(services, older_than_seconds=0)
    assert report == ReclaimReport(stale=(ingestion_id,))
    assert recorder.ids == [ingestion_id, ingestion_id]  # re-enqueued
    released = _row(services, ingestion_id)
    assert released["status"] == Status.FAILED_EXCEPTION
    assert released["error"]["code"] == "worker_lost"

    inline.enqueue(ingestion_id)  # the redelivery, processed in this process
    loaded = _row(services, ingestion_id)
    assert loaded["status"] == Status.LOADED, loaded["error"]
    assert (loaded["attempts"], loaded["rows_loaded"]) == (2, BIG_ROWS)
    with services.store.engine.connect() as conn:
        sql = "SELECT count(*), count(DISTINCT parcel_id) FROM curated_parcels"
        total, distinct = conn.execute(text(sql)).one()
    assert total == distinct == BIG_ROWS + BASELINE_ROWS
    assert curated_count(services, "parcels", ingestion_id=ingestion_id) == BIG_ROWS
    assert curated_count(services, "parcels", ingestion_id=baseline["id"]) == BASELINE_ROWS

    steps = _transitions(services, ingestion_id)
    assert [(action, to) for action, to, _ in steps] == [
        ("ingestion.registered", None),
        ("ingestion.transition", "PROCESSING"),
        ("ingestion.transition", "FAILED_EXCEPTION"),
        ("ingestion.transition", "PROCESSING"),
        ("ingestion.transition", "LOADED"),
    ]
    assert steps[1][2] == f"crash-helper:{child.pid}" and steps[2][2] == "reclaim"


def test_a_live_worker_is_never_reclaimed(services, recorder, tmp_path: Path) -> None:
    ingestion_id = _register(services, edge_csv(tmp_path), "edge_telemetry")
    with services.store.transaction() as tx:
        assert tx.ingestions.claim(ingestion_id, worker="live-worker") is not None
    claimed_at = _row(services, ingestion_id)["heartbeat_at"]
    threshold = 1.0
    with Heartbeat(services.store, ingestion_id, "live-worker", interval=0.05):
        end = time.monotonic() + 3 * threshold  # three times as long as a dead worker would last
        while time.monotonic() < end:
            assert not reclaim_stale(services, older_than_seconds=threshold)
            time.sleep(0.05)
    alive = _row(services, ingestion_id)
    assert (alive["status"], alive["claimed_by"]) == (Status.PROCESSING, "live-worker")
    assert alive["heartbeat_at"] > claimed_at  # it was the beats that kept the claim
    # The same threshold reclaims it once the beats stop.
    assert _reclaim_when_stale(services, older_than_seconds=threshold).stale == (ingestion_id,)


def test_an_ingestion_out_of_attempts_ends_failed_max_attempts_when_delivered_again(
    services, recorder, tmp_path: Path
) -> None:
    ingestion_id = _register(services, edge_csv(tmp_path), "edge_telemetry")
    max_attempts = services.settings.max_attempts
    for attempt in range(1, max_attempts + 1):  # every worker that claims it dies
        with services.store.transaction() as tx:
            assert tx.ingestions.claim(ingestion_id, worker=f"doomed-{attempt}") is not None
        assert _reclaim_when_stale(services, older_than_seconds=0).stale == (ingestion_id,)
    exhausted = _row(services, ingestion_id)
    assert (exhausted["status"], exhausted["attempts"]) == (Status.FAILED_EXCEPTION, max_attempts)

    result = process_ingestion(services, ingestion_id)
    assert result == ProcessResult(ingestion_id, Status.FAILED_MAX_ATTEMPTS, processed=False)
    final = _row(services, ingestion_id)
    assert final["status"] == Status.FAILED_MAX_ATTEMPTS and final["finished_at"] is not None
    assert final["attempts"] == max_attempts
    assert curated_count(services, "edge_telemetry") == 0
    # A further delivery changes nothing.
    steps = _transitions(services, ingestion_id)
    assert process_ingestion(services, ingestion_id).status == Status.FAILED_MAX_ATTEMPTS
    assert _transitions(services, ingestion_id) == steps
    assert steps[-1][:2] == ("ingestion.transition", "FAILED_MAX_ATTEMPTS")


def test_a_duplicate_delivery_of_a_loaded_ingestion_is_a_no_op(services, tmp_path: Path) -> None:
    row = ingest(services, edge_csv(tmp_path, rows=50), "edge_telemetry")
    assert row["status"] == Status.LOADED, row["error"]
    snapshot = "SELECT event_id, _ingestion_id, _loaded_at FROM curated_edge_telemetry ORDER BY event_id"
    with services.store.engine.connect() as conn:
        before = conn.execute(text(snapshot)).all()
    steps = _transitions(services, row["id"])

    result = process_ingestion(services, row["id"])

    assert result == ProcessResult(row["id"], Status.LOADED, processed=False)
    with services.store.engine.connect() as conn:
        assert conn.execute(text(snapshot)).all() == before
    assert len(before) == 50
    assert _transitions(services, row["id"]) == steps
    assert _row(services, row["id"])["updated_at"] == row["updated_at"]


def test_two_concurrent_deliveries_process_the_ingestion_once(services, recorder, tmp_path: Path) -> None:
    ingestion_id = _register(services, edge_csv(tmp_path, rows=2000), "edge_telemetry")
    start = threading.Barrier(2)

    def deliver(worker: str) -> ProcessResult:
        start.wait(timeout=30)
        return process_ingestion(services, ingestion_id, worker=worker)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(deliver, ["racer-1", "racer-2"]))

    assert sorted(r.processed for r in results) == [False, True]
    final = _row(services, ingestion_id)
    assert (final["status"], final["attempts"], final["rows_loaded"]) == (Status.LOADED, 1, 2000)
    assert curated_count(services, "edge_telemetry", ingestion_id=ingestion_id) == 2000
    claims = [s for s in _transitions(services, ingestion_id) if s[1] == "PROCESSING"]
    assert len(claims) == 1

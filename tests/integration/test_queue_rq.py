"""The RQ queue on real Redis and Postgres, with `eventpulse worker --burst` running in a child process.

The harness (tests/integration/rq_support.py) gives each test its own queue and deletes its Redis keys.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from rq.job import JobStatus
from sqlalchemy import text

from eventpulse.adapters.queue_rq import RETRY_INTERVALS
from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import Status
from tests.helpers import curated_count, wait_for_backends_gone, wait_for_query, wait_until
from tests.integration.api_support import edge_csv
from tests.integration.rq_support import RqHarness

BIG_ROWS = 100_000
LOADING = r'^\s*COPY\s|(INSERT|MERGE)\s+INTO\s+"?curated_'  # the curated load, by whichever path


def _register(services: Any, path: Path, dataset: str) -> uuid.UUID:
    registration = register_path(services, path=path, dataset=dataset, source="test", actor="test")
    return uuid.UUID(str(registration.ingestion["id"]))


def _row(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def test_the_worker_loads_an_enqueued_ingestion_from_a_job_named_after_it(
    services: Any, rq_harness: RqHarness, tmp_path: Path
) -> None:
    ingestion_id = _register(services, edge_csv(tmp_path, rows=200), "edge_telemetry")

    job = rq_harness.job(ingestion_id)
    assert job.id == str(ingestion_id)
    assert job.func_name == "eventpulse.worker.run_job"
    assert job.args == (str(ingestion_id),) or list(job.args) == [str(ingestion_id)]
    assert job.timeout == services.settings.job_timeout_seconds
    assert job.retries_left == services.settings.max_attempts - 1
    assert list(job.retry_intervals or []) == list(RETRY_INTERVALS)
    assert _row(services, ingestion_id)["status"] == Status.RECEIVED

    rq_harness.run_worker()

    row = _row(services, ingestion_id)
    assert row["status"] == Status.LOADED, row["error"]
    assert (row["attempts"], row["rows_loaded"]) == (1, 200)
    assert curated_count(services, "edge_telemetry", ingestion_id=ingestion_id) == 200
    finished = rq_harness.job(ingestion_id)
    assert finished.get_status() == JobStatus.FINISHED
    assert finished.return_value() == {
        "ingestion_id": str(ingestion_id),
        "status": "LOADED",
        "processed": True,
    }


def test_a_second_enqueue_of_a_waiting_ingestion_makes_no_second_job(
    services: Any, rq_harness: RqHarness, tmp_path: Path
) -> None:
    ingestion_id = _register(services, edge_csv(tmp_path, rows=20), "edge_telemetry")

    rq_harness.queue.enqueue(ingestion_id)
    rq_harness.queue.enqueue(ingestion_id)

    assert rq_harness.rq_queue.job_ids == [str(ingestion_id)]
    rq_harness.run_worker()
    row = _row(services, ingestion_id)
    assert (row["status"], row["attempts"]) == (Status.LOADED, 1)

    # Once the job has finished, an enqueue is a new delivery; the database makes it a no-op.
    rq_harness.queue.enqueue(ingestion_id)
    assert rq_harness.rq_queue.job_ids == [str(ingestion_id)]
    rq_harness.run_worker()
    assert rq_harness.job(ingestion_id).return_value() == {
        "ingestion_id": str(ingestion_id),
        "status": "LOADED",
        "processed": False,
    }
    assert _row(services, ingestion_id)["attempts"] == 1
    assert curated_count(services, "edge_telemetry", ingestion_id=ingestion_id) == 20


def test_a_worker_job_takes_the_datasets_waiting_ingestions_along_each_claimed_once(
    services: Any, rq_harness: RqHarness, tmp_path: Path
) -> None:
    ids = [_register(services, edge_csv(tmp_path, rows=30, seed=s), "edge_telemetry") for s in range(4)]
    failing = _register(services, edge_csv(tmp_path, rows=30, seed=9, case="duplicate_pk"), "edge_telemetry")

    rq_harness.run_worker(extra_env={"EVENTPULSE_WORKER_BATCH_SIZE": "10"})

    for ingestion_id in ids:
        row = _row(services, ingestion_id)
        assert (row["status"], row["attempts"]) == (Status.LOADED, 1), row["error"]
        assert curated_count(services, "edge_telemetry", ingestion_id=ingestion_id) == 30
    bad = _row(services, failing)
    assert (bad["status"], bad["attempts"]) == (Status.FAILED_QUALITY, 1)
    # The first job processed the whole batch; the later jobs found their ingestions settled.
    assert rq_harness.job(ids[0]).return_value() == {
        "ingestion_id": str(ids[0]),
        "status": "LOADED",
        "processed": True,
    }
    for ingestion_id in ids[1:]:
        assert rq_harness.job(ingestion_id).return_value()["processed"] is False
    assert rq_harness.job(failing).return_value() == {
        "ingestion_id": str(failing),
        "status": "FAILED_QUALITY",
        "processed": False,
    }
    with services.store.engine.connect() as conn:
        claims = conn.execute(
            text(
                "SELECT entity_id, count(*) FROM audit_events WHERE action = 'ingestion.transition' "
                "AND details->>'to' = 'PROCESSING' AND entity_id = ANY(:ids) GROUP BY 1"
            ),
            {"ids": [str(i) for i in [*ids, failing]]},
        ).all()
    assert sorted(n for _, n in claims) == [1] * 5


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_reclaimed_and_a_new_worker_loads_the_file_once(
    services: Any, rq_harness: RqHarness, tmp_path: Path
) -> None:
    (big,) = seed_files("parcels", tmp_path, limit=BIG_ROWS, per_ingestion_max=BIG_ROWS)
    ingestion_id = _register(services, big, "parcels")
    app_name = f"eventpulse-rq-kill-{uuid.uuid4().hex[:8]}"

    child, log = rq_harness.start_worker(app_name)
    try:
        wait_for_query(services, app_name, LOADING, child, log)
        os.kill(child.pid, signal.SIGKILL)  # the worker alone, with no warning, as the OOM killer would
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    wait_for_backends_gone(services, app_name)

    crashed = _row(services, ingestion_id)
    assert (crashed["status"], crashed["attempts"]) == (Status.PROCESSING, 1)
    assert curated_count(services, "parcels") == 0
    assert rq_harness.job(ingestion_id).get_status() == JobStatus.STARTED  # RQ cannot tell it died

    report = wait_until(
        lambda: reclaim_stale(services, older_than_seconds=0.5) or None,
        "the dead worker's claim to be reclaimed",
        timeout=15,
        interval=0.1,
    )
    assert report.stale == (ingestion_id,)
    assert rq_harness.job(ingestion_id).get_status() == JobStatus.QUEUED  # re-enqueued under the same id
    assert rq_harness.rq_queue.job_ids == [str(ingestion_id)]

    rq_harness.run_worker()

    loaded = _row(services, ingestion_id)
    assert loaded["status"] == Status.LOADED, loaded["error"]
    assert (loaded["attempts"], loaded["rows_loaded"]) == (2, BIG_ROWS)
    with services.store.engine.connect() as conn:
        total, distinct = conn.execute(
            text("SELECT count(*), count(DISTINCT parcel_id) FROM curated_parcels")
        ).one()
    assert total == distinct == BIG_ROWS
    assert rq_harness.job(ingestion_id).get_status() == JobStatus.FINISHED

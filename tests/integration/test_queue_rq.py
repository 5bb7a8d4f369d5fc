"""The RQ queue on real Redis and Postgres, with `eventpulse worker --burst` running in a child process.

Each test uses its own RQ queue name and worker names, and deletes every Redis key it created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import text
from sqlalchemy.engine import make_url

from eventpulse.adapters.queue_rq import RETRY_INTERVALS, RqQueue
from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import Status
from tests.helpers import curated_count, wait_for_backends_gone, wait_for_query
from tests.integration.api_support import edge_csv

REDIS_URL = os.environ.get("EVENTPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BIG_ROWS = 100_000
LOADING = r'^\s*COPY\s|(INSERT|MERGE)\s+INTO\s+"?curated_'  # the curated load, by whichever path


@dataclass
class RqHarness:
    redis: Redis
    queue_name: str
    settings: Any
    queue: RqQueue
    log_dir: Path
    workers: int = 0

    @property
    def rq_queue(self) -> Queue:
        return Queue(self.queue_name, connection=self.redis)

    def job(self, ingestion_id: uuid.UUID) -> Job:
        return Job.fetch(str(ingestion_id), connection=self.redis)

    def start_worker(self, app_name: str = "eventpulse-rq-test") -> tuple[subprocess.Popen[bytes], Path]:
        """`eventpulse worker --burst` in a new session, configured only through its environment."""
        self.workers += 1
        url = make_url(self.settings.database_url).update_query_dict({"application_name": app_name})
        env = {
            **os.environ,
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "EVENTPULSE_DATA_DIR": str(self.settings.data_dir),
            "EVENTPULSE_CONTRACTS_DIR": str(self.settings.contracts_dir),
            "EVENTPULSE_QUEUE": "rq",
            "EVENTPULSE_REDIS_URL": REDIS_URL,
            "EVENTPULSE_RQ_QUEUE_NAME": self.queue_name,
            "EVENTPULSE_BATCH_ROWS": "2000",
            "EVENTPULSE_HEARTBEAT_SECONDS": "1",
        }
        log = self.log_dir / f"worker-{self.workers}.log"
        command = [sys.executable, "-m", "eventpulse.cli.worker", "--burst"]
        command += ["--name", f"{self.queue_name}-w{self.workers}"]
        with open(log, "wb") as out:
            child = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return child, log

    def run_worker(self) -> str:
        child, log = self.start_worker()
        try:
            code = child.wait(timeout=180)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        output = log.read_text(errors="replace")
        assert code == 0, output[-3000:]
        return output


@pytest.fixture
def rq_harness(services: Any, tmp_path: Path) -> Iterator[RqHarness]:
    redis = Redis.from_url(REDIS_URL)
    try:
        redis.ping()
    except Exception as exc:
        pytest.fail(
            f"Redis does not answer at {REDIS_URL} ({exc}); start it or set EVENTPULSE_TEST_REDIS_URL"
        )
    queue_name = f"eventpulse-test-{uuid.uuid4().hex[:12]}"
    settings = services.settings.with_overrides(queue="rq", redis_url=REDIS_URL, rq_queue_name=queue_name)
    harness = RqHarness(redis, queue_name, settings, RqQueue.from_settings(settings), tmp_path)
    services.queue = harness.queue
    yield harness
    _delete_keys(redis, queue_name)
    harness.queue.close()
    redis.close()


def _delete_keys(redis: Redis, queue_name: str) -> None:
    """Every key this test's queue, jobs and workers created (job ids are the test's ingestion ids)."""
    job_ids = {j.decode() for j in redis.zrange(f"rq:finished:{queue_name}", 0, -1)}
    for registry in ("rq:queue:", "rq:failed:", "rq:wip:", "rq:scheduled:", "rq:deferred:", "rq:canceled:"):
        key = f"{registry}{queue_name}"
        members = redis.lrange(key, 0, -1) if registry == "rq:queue:" else redis.zrange(key, 0, -1)
        job_ids |= {m.decode().split(":")[0] for m in members}
    doomed = [k for k in redis.scan_iter("rq:*") if queue_name.encode() in k]
    for job_id in job_ids:
        doomed += list(redis.scan_iter(f"rq:*{job_id}*"))
    if doomed:
        redis.delete(*set(doomed))
    for key in (b"rq:queues", b"rq:workers"):
        stale = [m for m in redis.smembers(key) if queue_name.encode() in m]
        if stale:
            redis.srem(key, *stale)


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
    assert job.func_name == "eventpulse.adapters.queue_rq.run_job"
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
        os.killpg(child.pid, signal.SIGKILL)  # the worker and anything it started, with no warning
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    wait_for_backends_gone(services, app_name)

    crashed = _row(services, ingestion_id)
    assert (crashed["status"], crashed["attempts"]) == (Status.PROCESSING, 1)
    assert curated_count(services, "parcels") == 0
    assert rq_harness.job(ingestion_id).get_status() == JobStatus.STARTED  # RQ cannot tell it died

    end = time.monotonic() + 15
    while not (report := reclaim_stale(services, older_than_seconds=0.5)):
        assert time.monotonic() < end, "the dead worker's claim was never reclaimed"
        time.sleep(0.1)
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

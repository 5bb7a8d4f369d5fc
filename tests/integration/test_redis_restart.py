"""Redis restarted, empty, with jobs queued and one running, on a Redis this test starts itself (never
the machine's shared one): nothing is lost (reclaim re-delivers what Redis forgot) and nothing is
loaded twice."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import text

from eventpulse.adapters.queue_rq import RqQueue
from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import Status
from tests.helpers import wait_for_query, wait_until
from tests.integration.rq_support import RqHarness

TOTAL = 120_000
LOADING = r'^\s*COPY\s|(INSERT|MERGE)\s+INTO\s+"?curated_'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """redis-server on a free loopback port, keeping nothing on disk: a restart forgets every job."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: apt-get install -y redis-server (the RQ tests need it)"
            )
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self._answers() or None, f"redis-server on port {self.port} to answer", timeout=15)

    def _answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.url, socket_timeout=0.5).ping())
        except Exception:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def test_redis_restarted_empty_mid_job_loses_nothing_and_loads_nothing_twice(
    services: Any, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    queue_name = f"eventpulse-redis-restart-{uuid.uuid4().hex[:8]}"
    settings = services.settings.with_overrides(
        queue="rq", redis_url=private_redis.url, rq_queue_name=queue_name
    )
    redis = Redis.from_url(private_redis.url)
    harness = RqHarness(redis, queue_name, settings, RqQueue.from_settings(settings), tmp_path)
    services.queue = harness.queue
    env = {"EVENTPULSE_REDIS_URL": private_redis.url}
    paths = seed_files(
        "parcels", tmp_path / "files", limit=TOTAL, per_ingestion_max=TOTAL // 4
    )  # keys disjoint
    ids = [
        uuid.UUID(
            str(register_path(services, path=p, dataset="parcels", source="t", actor="t").ingestion["id"])
        )
        for p in paths
    ]
    assert len(harness.rq_queue.job_ids) == len(ids)
    app_name = f"eventpulse-redis-restart-{uuid.uuid4().hex[:6]}"
    child, log = harness.start_worker(app_name, burst=False, extra_env=env)
    try:
        wait_for_query(services, app_name, LOADING, child, log)  # the big file is loading
        private_redis.kill()  # every queued job and the running one's record are gone
        time.sleep(1.0)
        private_redis.start()
        assert Redis.from_url(private_redis.url).dbsize() == 0
        # The running job's load is in Postgres, not Redis: it ends; the worker may die with Redis.
        wait_until(
            lambda: not any(r["status"] == Status.PROCESSING for r in rows(services, ids).values()) or None,
            "the running ingestion to leave PROCESSING",
            timeout=120,
        )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        harness.kill_marked_processes()
    # Reclaim finds the deliveries Redis forgot (RECEIVED, handed over before the threshold) and
    # re-enqueues them; a new worker processes them.
    time.sleep(0.6)
    report = reclaim_stale(services, older_than_seconds=0.5)
    assert report, "reclaim found nothing to re-deliver"
    harness.queue = RqQueue.from_settings(settings)
    harness.redis = Redis.from_url(private_redis.url)
    harness.run_worker(extra_env=env)
    final = rows(services, ids)
    assert {r["status"] for r in final.values()} == {Status.LOADED}, {
        str(i): (r["status"], r["error"]) for i, r in final.items()
    }
    with services.store.engine.connect() as conn:
        total, distinct = conn.execute(
            text("SELECT count(*), count(DISTINCT parcel_id) FROM curated_parcels")
        ).one()
    assert total == distinct == sum(r["rows_loaded"] for r in final.values()) == TOTAL
    harness.queue.close()


def rows(services: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    with services.store.read() as tx:
        return {i: tx.ingestions.get(i) for i in ids}  # type: ignore[misc]

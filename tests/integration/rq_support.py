"""The RQ harness: real Redis, a private queue per test, `eventpulse worker` run as a child process.

Each test uses its own RQ queue name and worker names, and deletes every Redis key it created. Every
worker child carries a marker in its environment, which the processes it forks inherit, so a test
can find (and at the end kill) any process a worker left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy.engine import make_url

from eventpulse.adapters.queue_rq import RqQueue
from tests.helpers import wait_until

REDIS_URL = os.environ.get("EVENTPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MARKER = "EVENTPULSE_TEST_WORKER_MARKER"
"""Environment variable set on every worker child; forked children inherit it."""


@dataclass
class RqHarness:
    redis: Redis
    queue_name: str
    settings: Any
    queue: RqQueue
    log_dir: Path
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    workers: int = 0

    @property
    def rq_queue(self) -> Queue:
        return Queue(self.queue_name, connection=self.redis)

    def job(self, ingestion_id: uuid.UUID) -> Job:
        return Job.fetch(str(ingestion_id), connection=self.redis)

    def start_worker(
        self,
        app_name: str = "eventpulse-rq-test",
        *,
        burst: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """`eventpulse worker` (with ``--burst`` by default), configured only through its environment."""
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
            MARKER: self.marker,
            **(extra_env or {}),
        }
        log = self.log_dir / f"worker-{self.workers}.log"
        command = [sys.executable, "-m", "eventpulse.cli.worker"]
        command += ["--burst"] if burst else []
        command += ["--name", f"{self.queue_name}-w{self.workers}"]
        with open(log, "wb") as out:
            child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        return child, log

    def run_worker(self, timeout: float = 180, *, extra_env: dict[str, str] | None = None) -> str:
        """Run a burst worker to the end; fail with its log when it exits non-zero or hangs."""
        child, log = self.start_worker(extra_env=extra_env)
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the worker did not finish within {timeout}s:\n" + log.read_text(errors="replace")[-3000:]
            )
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        output = log.read_text(errors="replace")
        assert code == 0, output[-3000:]
        return output

    def marked_processes(self) -> list[psutil.Process]:
        """Live processes carrying this harness's marker: its workers and whatever they forked."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(MARKER) == self.marker and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def wait_for_no_marked_processes(self, timeout: float) -> None:
        """Wait until no process this harness's workers started is left; fail naming the survivors."""
        wait_until(
            lambda: not self.marked_processes(),
            f"every process of the killed worker to be gone within {timeout:g}s",
            timeout=timeout,
            describe=lambda: describe_processes(self.marked_processes()),
        )

    def kill_marked_processes(self) -> None:
        for proc in self.marked_processes():
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


def describe_processes(procs: list[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        try:
            lines.append(f"pid {proc.pid} (parent {proc.ppid()}): {' '.join(proc.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return "\n".join(lines)


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
    harness.kill_marked_processes()  # a test that failed may have left an orphan holding sessions
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

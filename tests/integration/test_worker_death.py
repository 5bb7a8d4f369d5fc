"""A served `eventpulse worker` (RQ, with its scheduler) that dies mid-load leaves nothing behind.

The worker runs as `eventpulse worker` does in production: not in burst mode, so RQ forks its
scheduler process. SIGKILL goes to the worker's pid alone, as the OOM killer sends it; nothing else
in its process group is touched, so only the fixes make its children and its sessions go.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import text

from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import Status
from tests.helpers import curated_count, wait_for_query, wait_until
from tests.integration.rq_support import RqHarness

BIG_ROWS = 100_000
LOADING = r'^\s*COPY\s|(INSERT|MERGE)\s+INTO\s+"?curated_'  # the curated load, by whichever path
ORPHAN_GRACE_SECONDS = 10.0
"""How long the worker's children and its Postgres sessions may take to go once it is dead."""
RETRY_BUDGET_SECONDS = 60.0
"""The reclaimed retry of 100k rows takes a few seconds; the job timeout it must not wait for is 3600."""


@pytest.fixture
def big_parcels(tmp_path: Path) -> Path:
    (big,) = seed_files("parcels", tmp_path, limit=BIG_ROWS, per_ingestion_max=BIG_ROWS)
    return big


def _register(services: Any, path: Path) -> uuid.UUID:
    registration = register_path(services, path=path, dataset="parcels", source="test", actor="test")
    return uuid.UUID(str(registration.ingestion["id"]))


def _row(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def _backends(services: Any, app_name: str) -> list[str]:
    """The sessions of one worker (and whatever inherited them), described for a failure message."""
    sql = text(
        "SELECT pid, state, now() - xact_start AS in_transaction, left(query, 60) AS query "
        "FROM pg_stat_activity WHERE application_name = :app"
    )
    with services.store.engine.connect() as conn:
        rows = conn.execute(sql, {"app": app_name}).all()
    return [f"backend {r.pid} {r.state} for {r.in_transaction}: {r.query}" for r in rows]


def _children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _reclaim(services: Any) -> tuple[uuid.UUID, ...]:
    report = wait_until(
        lambda: reclaim_stale(services, older_than_seconds=0.5) or None,
        "the dead worker's claim to be reclaimed",
        timeout=15,
        interval=0.1,
    )
    return report.stale


@pytest.mark.slow
def test_a_killed_worker_leaves_no_process_and_no_session_and_its_retry_loads_in_seconds(
    services: Any, rq_harness: RqHarness, big_parcels: Path
) -> None:
    ingestion_id = _register(services, big_parcels)
    app_name = f"eventpulse-rq-oom-{uuid.uuid4().hex[:8]}"

    child, log = rq_harness.start_worker(app_name, burst=False)
    try:
        wait_for_query(services, app_name, LOADING, child, log)
        forked = _children(child.pid)
        child.send_signal(signal.SIGKILL)  # the worker's pid alone
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert forked, "the served worker should have forked RQ's scheduler:\n" + log.read_text()[-2000:]

    rq_harness.wait_for_no_marked_processes(ORPHAN_GRACE_SECONDS)
    wait_until(
        lambda: not _backends(services, app_name),
        f"every session of the killed worker to end within {ORPHAN_GRACE_SECONDS}s",
        timeout=ORPHAN_GRACE_SECONDS,
        describe=lambda: _backends(services, app_name),
    )

    assert _reclaim(services) == (ingestion_id,)
    started = time.monotonic()
    rq_harness.run_worker(timeout=RETRY_BUDGET_SECONDS)
    took = time.monotonic() - started

    loaded = _row(services, ingestion_id)
    assert loaded["status"] == Status.LOADED, loaded["error"]
    assert (loaded["attempts"], loaded["rows_loaded"]) == (2, BIG_ROWS)
    assert curated_count(services, "parcels") == BIG_ROWS
    assert took < RETRY_BUDGET_SECONDS


@pytest.mark.slow
def test_sigterm_lets_the_worker_finish_the_load_in_hand_then_stop_with_its_scheduler(
    services: Any, rq_harness: RqHarness, big_parcels: Path
) -> None:
    ingestion_id = _register(services, big_parcels)
    app_name = f"eventpulse-rq-term-{uuid.uuid4().hex[:8]}"

    child, log = rq_harness.start_worker(app_name, burst=False)
    try:
        wait_for_query(services, app_name, LOADING, child, log)
        forked = _children(child.pid)
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert forked, "the served worker should have forked RQ's scheduler:\n" + output[-2000:]

    loaded = _row(services, ingestion_id)
    assert loaded["status"] == Status.LOADED, loaded["error"]
    assert (loaded["attempts"], loaded["rows_loaded"]) == (1, BIG_ROWS)
    assert curated_count(services, "parcels") == BIG_ROWS
    rq_harness.wait_for_no_marked_processes(ORPHAN_GRACE_SECONDS)
    wait_until(
        lambda: not _backends(services, app_name),
        "every session of the stopped worker to end",
        timeout=ORPHAN_GRACE_SECONDS,
        describe=lambda: _backends(services, app_name),
    )

"""kill -9 campaign: a worker process SIGKILLed at random moments of every stage, again and again.

A child worker (crash_pipeline_helper.py) processes every unfinished ingestion in turn and is killed
after a random delay: during its start, the claim, the read, the cast, the gate, the COPY, the upsert
or the commit. After each kill the stale claim is reclaimed and a new child carries on. At the end:
every ingestion is LOADED, the curated table holds exactly the rows of the loaded files (none twice),
and every LOADED ingestion has its lineage and audit records.

It runs twice: with the processor in a child process (the inline path) and with ``eventpulse worker``
on RQ and real Redis (killed at any moment of its life, its work-horse with it). Bounded in
``make test`` (EVENTPULSE_CHAOS_KILLS, 10 per path); ``make chaos`` runs 100 per path and writes the
stages hit to benchmarks/out/kill_campaign-<path>.json.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import TERMINAL, Status
from tests.helpers import RecordingQueue, child_worker_env, wait_for_backends_gone
from tests.integration.rq_support import RqHarness

HELPER = Path(__file__).with_name("crash_pipeline_helper.py")
KILLS = int(os.environ.get("EVENTPULSE_CHAOS_KILLS", "10"))
"""Kills per path (inline child, RQ worker): 10 in make test, 100 in make chaos."""
SEED = int(os.environ.get("EVENTPULSE_CHAOS_SEED", "20261203"))
FILES = 6
ROWS_PER_FILE = 30_000
REPORT = (
    Path(os.environ.get("EVENTPULSE_CHAOS_REPORT", "")) if os.environ.get("EVENTPULSE_CHAOS_REPORT") else None
)


def stage_of(services: Any, app_name: str, ids: list[uuid.UUID]) -> str:
    """What the child was doing, from its database session and the ingestions' states."""
    with services.store.engine.connect() as conn:
        sessions = conn.execute(
            text("SELECT state, query FROM pg_stat_activity WHERE application_name = :app"), {"app": app_name}
        ).all()
        processing = conn.execute(
            text("SELECT count(*) FROM ingestions WHERE status = 'PROCESSING' AND id = ANY(:ids)"),
            {"ids": [str(i) for i in ids]},
        ).scalar_one()
    active = [s.query for s in sessions if s.state == "active"]
    if any(q.lstrip().upper().startswith("COPY") for q in active):
        return "copy"
    if any(
        "ON CONFLICT" in q or q.lstrip().upper().startswith(('INSERT INTO "CURATED', "MERGE")) for q in active
    ):
        return "merge"
    if any(q.lstrip().upper().startswith("COMMIT") for q in active):
        return "commit"
    if not sessions:
        return "start" if not processing else "between-statements"
    if processing:
        return (
            "in-transaction" if any(s.state == "idle in transaction" for s in sessions) else "read-cast-gate"
        )
    return "claim-or-finish"


def start_child(services: Any, ids: list[uuid.UUID], app_name: str, log: Path) -> subprocess.Popen[bytes]:
    env = child_worker_env(
        services.settings, app_name=app_name, EVENTPULSE_BATCH_ROWS="5000", EVENTPULSE_HEARTBEAT_SECONDS="1"
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, str(HELPER), *map(str, ids)], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def relabel(path: Path, prefix: str, out_dir: Path) -> Path:
    """A copy of a parcels file whose keys all start with ``prefix``: new keys, so a file loaded later
    never upserts an earlier one's rows (seed_files with another seed may reuse keys)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    header, *rows = path.read_bytes().split(b"\n")
    target = out_dir / f"{prefix}-{path.name}"
    target.write_bytes(b"\n".join([header, *(prefix.encode() + r if r else r for r in rows)]))
    return target


def statuses(services: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    with services.store.read() as tx:
        return {i: tx.ingestions.get(i) for i in ids}  # type: ignore[misc]


class InlineChildren:
    """A child process running the processor over the unfinished ingestions, in order."""

    name = "inline"

    def __init__(self, services: Any, log: Path):
        self.services, self.log = services, log

    def start(self, pending: list[uuid.UUID], app_name: str) -> subprocess.Popen[bytes]:
        return start_child(self.services, pending, app_name, self.log)

    def ready_marker(self) -> str:
        return "worker "

    def after_kill(self, child: subprocess.Popen[bytes]) -> None:
        return None

    def close(self) -> None:
        return None


class RqChildren:
    """``eventpulse worker`` (RQ, real Redis) taking the jobs; killed like the OOM killer would."""

    name = "rq"

    def __init__(self, harness: RqHarness):
        self.harness = harness

    def start(self, pending: list[uuid.UUID], app_name: str) -> subprocess.Popen[bytes]:
        child, _ = self.harness.start_worker(app_name, burst=False)
        return child

    def ready_marker(self) -> str:
        return ""  # no line to wait for: a kill at any moment of its life

    def after_kill(self, child: subprocess.Popen[bytes]) -> None:
        self.harness.wait_for_no_marked_processes(timeout=30)  # its work-horse goes with it

    def close(self) -> None:
        self.harness.kill_marked_processes()


@pytest.fixture(params=["inline", "rq"])
def children(request: pytest.FixtureRequest, services: Any, tmp_path: Path) -> Iterator[Any]:
    if request.param == "inline":
        services.queue = RecordingQueue()  # registering processes nothing: the children do
        made: Any = InlineChildren(services, tmp_path / "children.out")
    else:
        made = RqChildren(request.getfixturevalue("rq_harness"))
    yield made
    made.close()


def test_workers_killed_at_random_moments_lose_nothing_and_load_nothing_twice(
    services: Any, children: Any, tmp_path: Path
) -> None:
    services.settings = services.settings.with_overrides(max_attempts=KILLS + 5)
    paths = seed_files(
        "parcels",
        tmp_path / "files",
        limit=FILES * ROWS_PER_FILE,
        per_ingestion_max=ROWS_PER_FILE,
        seed=SEED % 1000,
    )
    refills = 0
    ids = [
        uuid.UUID(
            str(
                register_path(services, path=p, dataset="parcels", source="chaos", actor="chaos").ingestion[
                    "id"
                ]
            )
        )
        for p in paths
    ]
    rng = random.Random(SEED)
    stages: Counter[str] = Counter()
    log = tmp_path / "children.out"  # the inline children's output (their "worker" lines)
    kills = 0
    rounds = 0
    while kills < KILLS:
        rounds += 1
        assert rounds < KILLS * 4, f"the campaign stopped making progress ({kills} kills)"
        pending = [i for i, r in statuses(services, ids).items() if r["status"] not in TERMINAL]
        if not pending:  # all loaded before the campaign is over: more work, distinct keys
            refills += 1
            more = [relabel(p, f"R{refills}", tmp_path / "more") for p in paths[:2]]
            for p in more:
                reg = register_path(services, path=p, dataset="parcels", source="chaos", actor="chaos")
                if reg.ingestion["status"] not in TERMINAL:
                    ids.append(uuid.UUID(str(reg.ingestion["id"])))
            continue
        app_name = f"chaos-{rounds}"
        marker = children.ready_marker()
        ready = log.read_text().count(marker) if marker and log.exists() else 0
        child = children.start(pending, app_name)
        if not marker:  # RQ: the worker's start and its jobs, at any moment
            time.sleep(rng.uniform(0.5, 8.0))
        elif rng.random() < 0.1:  # now and then during its start (imports, connecting)
            time.sleep(rng.uniform(0.0, 1.5))
        else:  # mostly once it is processing: its "worker" line is printed after the start
            deadline = time.monotonic() + 60
            while log.read_text().count(marker) == ready and child.poll() is None:
                assert time.monotonic() < deadline, "the child worker never started"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 4.0))
        if child.poll() is not None:  # it finished everything it had before the kill
            continue
        stages[stage_of(services, app_name, pending)] += 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        children.after_kill(child)
        kills += 1
        wait_for_backends_gone(services, app_name)
        reclaim_stale(services, older_than_seconds=0)
    children.close()
    # The last worker is not killed: everything still open gets processed.
    for _ in range(3):
        reclaim_stale(services, older_than_seconds=0)
        for i, r in statuses(services, ids).items():
            if r["status"] not in TERMINAL:
                process_ingestion(services, i, worker="chaos-final")
    final = statuses(services, ids)
    assert {r["status"] for r in final.values()} == {Status.LOADED}, {
        str(i): (r["status"], r["error"]) for i, r in final.items() if r["status"] != Status.LOADED
    }
    with services.store.engine.connect() as conn:
        rows, keys = conn.execute(
            text("SELECT count(*), count(DISTINCT parcel_id) FROM curated_parcels")
        ).one()
        per_ingestion = dict(
            conn.execute(text("SELECT _ingestion_id, count(*) FROM curated_parcels GROUP BY 1")).all()
        )
        audited = set(
            conn.execute(
                text(
                    "SELECT entity_id FROM audit_events WHERE action = 'ingestion.transition' "
                    "AND details->>'to' = 'LOADED'"
                )
            ).scalars()
        )
    assert rows == keys == sum(r["rows_loaded"] for r in final.values())  # none twice, none lost
    assert {uuid.UUID(str(k)): v for k, v in per_ingestion.items()} == {
        i: r["rows_loaded"] for i, r in final.items()
    }
    assert {str(i) for i in final} <= audited, "a LOADED ingestion has no audit record of its transition"
    with services.store.read() as tx:
        for i in final:
            assert tx.ingestions.artifacts(i)["lineage"]["eventType"] == "COMPLETE"
    assert kills == KILLS
    if REPORT is not None:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        report = REPORT.with_name(f"{REPORT.stem}-{children.name}{REPORT.suffix}")
        report.write_text(
            json.dumps(
                {
                    "path": children.name,
                    "kills": kills,
                    "stages": dict(stages),
                    "ingestions": len(final),
                    "rows": rows,
                    "lost": 0,
                    "twice": 0,
                },
                indent=2,
            )
        )
    print(
        f"kill campaign ({children.name}): {kills} kills, stages {dict(stages)}, "
        f"{len(final)} ingestions, {rows} rows"
    )

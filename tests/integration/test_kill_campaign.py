"""kill -9 campaign: a worker process SIGKILLed at random moments of every stage, again and again.

A child worker (crash_pipeline_helper.py) processes every unfinished ingestion in turn and is killed
after a random delay: during its start, the claim, the read, the cast, the gate, the COPY, the upsert
or the commit. After each kill the stale claim is reclaimed and a new child carries on. At the end:
every ingestion is LOADED, the curated table holds exactly the rows of the loaded files (none twice),
and every LOADED ingestion has its lineage and audit records.

It runs three times: with the processor in a child process (the inline path), with ``eventpulse
worker`` on RQ and real Redis (killed at any moment of its life, its work-horse with it), and with the
process_task function in a process of its own called by the Cloud Tasks emulator (killed while it
handles deliveries; reclaim re-enqueues on the Cloud Tasks queue, and the handler alone finishes the
work). Bounded in ``make test`` (EVENTPULSE_CHAOS_KILLS, 10 per path, and EVENTPULSE_CHAOS_TASKS_KILLS,
5 on the Cloud Tasks path, whose handler restarts slower); ``make chaos`` runs 100 per path (50 on
Cloud Tasks) and writes the stages hit to benchmarks/out/kill_campaign-<path>.json.
"""

from __future__ import annotations

import json
import os
import random
import re
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

from emulators._process import free_port, port_open
from emulators.cloud_tasks import CloudTasksEmulator, EmulatorError
from eventpulse.adapters.queue_cloud_tasks import CloudTasksQueue, build_client
from eventpulse.demo.generator import seed_files
from eventpulse.landing.register import register_path
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import TERMINAL, Status
from tests.conftest import TEST_TASK_TOKEN, TEST_TASK_TOKEN_SHA256, TEST_TOKEN_SHA256
from tests.helpers import RecordingQueue, child_worker_env, wait_for_backends_gone, wait_until
from tests.integration.rq_support import RqHarness

HELPER = Path(__file__).with_name("crash_pipeline_helper.py")
TASK_HANDLER = Path(__file__).with_name("task_handler_helper.py")
KILLS = int(os.environ.get("EVENTPULSE_CHAOS_KILLS", "10"))
"""Kills per path (inline child, RQ worker): 10 in make test, 100 in make chaos."""
TASKS_KILLS = int(os.environ.get("EVENTPULSE_CHAOS_TASKS_KILLS", str(max(3, KILLS // 2))))
"""Kills of the Cloud Tasks handler: 5 in make test, 50 in make chaos (each restart imports the
function and waits for its port)."""
TASKS_MAX_RETRIES = 3
"""The emulator's retries of a failed delivery (immediate, no back-off): a killed handler's tasks
are dropped within a second, so only reclaim's re-enqueue delivers them again."""
TASKS_FINAL_SECONDS = 300.0
"""How long the last, never-killed handler may take to finish what is open."""
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

    def before_kill(self) -> None:
        return None

    def after_kill(self, child: subprocess.Popen[bytes]) -> None:
        return None

    def close(self) -> None:
        return None

    def finish(self, ids: list[uuid.UUID]) -> None:
        finish_in_process(self.services, ids)

    def figures(self) -> dict[str, int]:
        return {}


def finish_in_process(services: Any, ids: list[uuid.UUID]) -> None:
    """The last worker is not killed: everything still open gets processed."""
    for _ in range(3):
        reclaim_stale(services, older_than_seconds=0)
        for i, r in statuses(services, ids).items():
            if r["status"] not in TERMINAL:
                process_ingestion(services, i, worker="chaos-final")


class RqChildren:
    """``eventpulse worker`` (RQ, real Redis) taking the jobs; killed like the OOM killer would."""

    name = "rq"

    def __init__(self, harness: RqHarness, services: Any):
        self.harness, self.services = harness, services

    def start(self, pending: list[uuid.UUID], app_name: str) -> subprocess.Popen[bytes]:
        child, _ = self.harness.start_worker(app_name, burst=False)
        return child

    def ready_marker(self) -> str:
        return ""  # no line to wait for: a kill at any moment of its life

    def before_kill(self) -> None:
        return None

    def after_kill(self, child: subprocess.Popen[bytes]) -> None:
        self.harness.wait_for_no_marked_processes(timeout=30)  # its work-horse goes with it

    def close(self) -> None:
        self.harness.kill_marked_processes()

    def finish(self, ids: list[uuid.UUID]) -> None:
        self.close()
        finish_in_process(self.services, ids)

    def figures(self) -> dict[str, int]:
        return {}


class CloudTasksChildren:
    """process_task in a process of its own (task_handler_helper.py) on a fixed loopback port, the
    URL of every task; the Cloud Tasks emulator posts each task to it, one at a time.

    The emulator retries a failed delivery at once, with no back-off, so a task posted to a dead
    handler is dropped within a second: the queue is paused from just before a kill until the new
    handler listens, and the tasks reclaim creates meanwhile wait for it. A task already in the
    emulator's dispatch round when the queue pauses can still be spent on the dead port and dropped;
    the next reclaim delivers that ingestion again (a new task name, the first being taken)."""

    name = "cloud_tasks"

    def __init__(
        self, services: Any, emulator: CloudTasksEmulator, client: Any, queue_path: str, port: int, log: Path
    ):
        self.emulator = emulator
        self.services, self.client, self.queue_path, self.port, self.log = (
            services,
            client,
            queue_path,
            port,
            log,
        )
        self.child: subprocess.Popen[bytes] | None = None

    def start(self, pending: list[uuid.UUID], app_name: str) -> subprocess.Popen[bytes]:
        env = child_worker_env(
            self.services.settings,
            app_name=app_name,
            EVENTPULSE_BATCH_ROWS="5000",
            EVENTPULSE_HEARTBEAT_SECONDS="1",
            EVENTPULSE_TASK_TOKEN_SHA256=TEST_TASK_TOKEN_SHA256,
            EVENTPULSE_API_TOKEN_SHA256=TEST_TOKEN_SHA256,
        )
        with open(self.log, "ab") as out:
            self.child = subprocess.Popen(
                [sys.executable, str(TASK_HANDLER), str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: port_open(self.port), "the task handler to listen", process=self.child, log=self.log
        )
        self.client.resume_queue(name=self.queue_path)
        return self.child

    def ready_marker(self) -> str:
        return ""  # killed at any moment once it listens: between tasks or in any stage of one

    def before_kill(self) -> None:
        self.client.pause_queue(name=self.queue_path)

    def after_kill(self, child: subprocess.Popen[bytes]) -> None:
        return None

    def close(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=30)

    def figures(self) -> dict[str, int]:
        """From the emulator's log: deliveries, tasks it gave up (their retries spent on a dead handler
        or on 503s), and tasks under a redelivery name (reclaim's re-enqueues)."""
        lines = self.emulator.log_text().splitlines()
        submitted = {line.split("Submitting task ", 1)[1] for line in lines if "Submitting task " in line}
        return {
            "deliveries": sum("Requesting POST" in line for line in lines),
            "tasks_given_up": sum("Giving up failed task" in line for line in lines),
            "redelivery_tasks": len({name for name in submitted if "-r" in name.rsplit("/", 1)[-1]}),
            # a redelivery within the minute of another that had run (without its own name: dropped)
            "same_minute_redeliveries": len(
                {name for name in submitted if re.search(r"-r\d+-[0-9a-f]{8}$", name)}
            ),
        }

    def finish(self, ids: list[uuid.UUID]) -> None:
        """A last handler, never killed, takes every open task; a reclaim sweep runs meanwhile as in
        production, with a threshold a live handler's heartbeat (1 s) never reaches."""
        self.start([], "chaos-final")
        deadline = time.monotonic() + TASKS_FINAL_SECONDS
        while any(r["status"] not in TERMINAL for r in statuses(self.services, ids).values()):
            assert time.monotonic() < deadline, {
                str(i): r["status"]
                for i, r in statuses(self.services, ids).items()
                if r["status"] not in TERMINAL
            }
            time.sleep(5)
            reclaim_stale(self.services, older_than_seconds=15)


def cloud_tasks_children(request: pytest.FixtureRequest, services: Any, tmp_path: Path) -> Iterator[Any]:
    emulator = CloudTasksEmulator(queues=(), max_retries=TASKS_MAX_RETRIES)
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.fail(str(exc))
    client = build_client(emulator.endpoint)
    try:
        project, location, name = "eventpulse-chaos", "us-central1", f"chaos-{uuid.uuid4().hex[:8]}"
        queue_path = client.queue_path(project, location, name)
        client.create_queue(parent=client.common_location_path(project, location), queue={"name": queue_path})
        client.pause_queue(name=queue_path)  # the first files' tasks wait for the first handler
        port = free_port()
        settings = services.settings.with_overrides(
            queue="cloud_tasks",
            gcp_project=project,
            tasks_location=location,
            tasks_queue=name,
            tasks_endpoint=emulator.endpoint,
            task_handler_url=f"http://127.0.0.1:{port}/process_task",
            task_token=TEST_TASK_TOKEN,
        )
        services.queue = CloudTasksQueue.from_settings(settings)  # registration and reclaim enqueue here
        made = CloudTasksChildren(services, emulator, client, queue_path, port, tmp_path / "handler.out")
        yield made
        made.close()
    finally:
        client.transport.close()
        emulator.stop()


@pytest.fixture(params=["inline", "rq", "cloud_tasks"])
def children(request: pytest.FixtureRequest, services: Any, tmp_path: Path) -> Iterator[Any]:
    if request.param == "cloud_tasks":
        yield from cloud_tasks_children(request, services, tmp_path)
        return
    if request.param == "inline":
        services.queue = RecordingQueue()  # registering processes nothing: the children do
        made: Any = InlineChildren(services, tmp_path / "children.out")
    else:
        made = RqChildren(request.getfixturevalue("rq_harness"), services)
    yield made
    made.close()


def test_workers_killed_at_random_moments_lose_nothing_and_load_nothing_twice(
    services: Any, children: Any, tmp_path: Path
) -> None:
    kills_wanted = TASKS_KILLS if children.name == "cloud_tasks" else KILLS
    services.settings = services.settings.with_overrides(max_attempts=kills_wanted + 5)
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
    while kills < kills_wanted:
        rounds += 1
        assert rounds < kills_wanted * 4, f"the campaign stopped making progress ({kills} kills)"
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
        children.before_kill()
        stages[stage_of(services, app_name, pending)] += 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        children.after_kill(child)
        kills += 1
        wait_for_backends_gone(services, app_name)
        reclaim_stale(services, older_than_seconds=0)
    children.finish(ids)  # a last worker, never killed, finishes what is open
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
    assert kills == kills_wanted
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
                    **children.figures(),
                },
                indent=2,
            )
        )
    print(
        f"kill campaign ({children.name}): {kills} kills, stages {dict(stages)}, "
        f"{len(final)} ingestions, {rows} rows {children.figures()}"
    )

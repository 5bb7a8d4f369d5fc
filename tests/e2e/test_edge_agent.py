"""The `eventpulse-edge` agent against the real server: outages, a flaky link, revocation, kill -9, commands.

One real `eventpulse serve` (waitress, inline queue, a fresh Postgres database for this module) and real
agent processes in simulated-sensors mode, all on loopback. Each test uses its own device. "Nothing lost,
nothing duplicated" is checked against the agent's own spool: SQLite AUTOINCREMENT gives the number of
events ever appended (readings and heartbeat rows), no event was dropped or set aside, and after a final
clean run the curated ``edge_telemetry`` table holds exactly that many rows for the device, one per
event_id, loaded by ingestions whose ``rows_loaded`` add up to the same number (a batch loaded twice
would add its rows twice).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from eventpulse_edge import __version__
from eventpulse_edge.updater import REQUEST_NAME, RESULT_NAME, process_request
from tests.conftest import REPO_ROOT, TEST_TOKEN
from tests.e2e.edge_harness import UPLOAD_PATH, AgentProcess, Fault, FaultProxy, ServerProcess
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

TERMINAL_WAIT_S = 60.0


@pytest.fixture(scope="module")
def edge_database(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this module (the server migrates it on start), dropped at the end."""
    name = f"eventpulse_edge_e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def server(edge_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("edge_server")
    process = ServerProcess(edge_database, data_dir=root / "data", log=root / "serve.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def engine(edge_database: str, server: ServerProcess) -> Iterator[Engine]:
    db = create_engine(edge_database)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def registry(edge_database: str, server: ServerProcess) -> Iterator[Any]:
    """The server's device registry, opened from this process (what an admin route would call)."""
    from eventpulse.bootstrap import build_services
    from eventpulse.settings import Settings

    services = build_services(
        Settings(
            mode="local",
            database_url=edge_database,
            data_dir=server.data_dir,
            contracts_dir=REPO_ROOT / "contracts",
        )
    )
    yield services.devices
    services.close()


@pytest.fixture
def agents(tmp_path: Path, server: ServerProcess) -> Iterator[list[AgentProcess]]:
    """Agents made by a test; each one's process group is killed at the end, whatever happened."""
    made: list[AgentProcess] = []
    yield made
    for agent in made:
        agent.kill()


@pytest.fixture
def proxies() -> Iterator[list[FaultProxy]]:
    made: list[FaultProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def new_agent(agents: list[AgentProcess], tmp_path: Path, server_url: str, **settings: Any) -> AgentProcess:
    device_id = f"e2e-{uuid.uuid4().hex[:10]}"
    agent = AgentProcess(device_id, server_url, tmp_path / device_id, settings=settings)
    agents.append(agent)
    return agent


# -- reading the server's side -------------------------------------------------------------------------


def edge_ingestions(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, status, rows_loaded, filename, created_at FROM ingestions "
                "WHERE dataset = 'edge_telemetry'"
            )
        ).mappings()
        return {str(row["id"]): dict(row) for row in rows}


def curated(engine: Engine, device_id: str) -> tuple[int, int]:
    """(rows, distinct event ids) of one device in the curated table; (0, 0) before the table exists."""
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('curated_edge_telemetry')")).scalar()
        if exists is None:
            return 0, 0
        row = conn.execute(
            text(
                "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM curated_edge_telemetry WHERE device_id = :d"
            ),
            {"d": device_id},
        ).one()
        return int(row[0]), int(row[1])


def wait_for_uploads(agent: AgentProcess, at_least: int, what: str, timeout: float = 60.0) -> dict[str, int]:
    return wait_until(
        lambda: (s := agent.spool())["sent_batches"] >= at_least and s,
        f"{agent.device_id}: {what} (sent_batches >= {at_least})",
        timeout=timeout,
        interval=0.2,
        process=agent.process,
        log=agent.log,
        describe=agent.spool,
    )


def drain(agent: AgentProcess, server_url: str) -> dict[str, int]:
    """A final clean run: no new readings, one heartbeat, upload until the spool is empty, then stop."""
    agent.start(server_url=server_url, simulate=False, heartbeat_interval_s=3600.0, commands_interval_s=3600)
    state = wait_until(  # "starting as": SIGTERM now ends the loop (before, it would kill the interpreter)
        lambda: (
            (s := agent.spool())["depth"] == 0
            and s["pending_batches"] == 0
            and "starting as" in agent.log_text().split("--- run")[-1]
            and s
        ),
        f"{agent.device_id}: the final run to empty the spool",
        timeout=60,
        interval=0.2,
        process=agent.process,
        log=agent.log,
        describe=agent.spool,
    )
    assert agent.stop() == 0, agent.log_text()[-3000:]
    return state


def assert_exactly_once(engine: Engine, agent: AgentProcess, before: set[str]) -> int:
    """Every event the agent ever spooled is in the curated table once; no ingestion loaded twice."""
    state = agent.spool()
    appended = state["appended"]
    assert appended > 0
    assert state["depth"] == 0 and state["pending_batches"] == 0, state
    assert state["dropped_events"] == 0 and state["rejected_events"] == 0, state

    def settled() -> bool:
        new = [row for key, row in edge_ingestions(engine).items() if key not in before]
        unfinished = [row for row in new if row["status"] in {"RECEIVED", "PROCESSING", "FAILED_EXCEPTION"}]
        return not unfinished and curated(engine, agent.device_id)[0] >= appended

    wait_until(
        settled,
        f"{agent.device_id}: {appended} events loaded and every ingestion final",
        timeout=TERMINAL_WAIT_S,
        interval=0.5,
        describe=lambda: (curated(engine, agent.device_id), _statuses(engine, before)),
    )
    rows, distinct = curated(engine, agent.device_id)
    assert (rows, distinct) == (appended, appended), f"spooled {appended}, curated {rows} ({distinct} ids)"
    new = [row for key, row in edge_ingestions(engine).items() if key not in before]
    assert {row["status"] for row in new} == {"LOADED"}, _statuses(engine, before)
    assert sum(int(row["rows_loaded"] or 0) for row in new) == appended, new
    return appended


def _statuses(engine: Engine, before: set[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, row in edge_ingestions(engine).items():
        if key not in before:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


# -- the scenarios -------------------------------------------------------------------------------------


def test_server_down_for_a_while_nothing_lost_nothing_duplicated(
    server: ServerProcess, engine: Engine, agents: list[AgentProcess], tmp_path: Path
) -> None:
    server_down_scenario(server, engine, agents, tmp_path)


def server_down_scenario(
    server: ServerProcess, engine: Engine, agents: list[AgentProcess], tmp_path: Path
) -> AgentProcess:
    """Uploads, the server stopped while the agent spools, restarted, then a drain: every event once."""
    before = set(edge_ingestions(engine))
    agent = new_agent(agents, tmp_path, server.url)
    agent.start()
    at_outage = wait_for_uploads(agent, 2, "uploads before the outage")

    server.stop()
    try:
        # The agent keeps sampling into its spool while nothing answers, and says why it waits.
        wait_until(
            lambda: (
                agent.spool()["appended"] >= at_outage["appended"] + 30
                and "server unavailable" in agent.log_text().split("--- run")[-1]
            ),
            "the agent to keep spooling while the server is down",
            timeout=30,
            interval=0.2,
            process=agent.process,
            log=agent.log,
        )
        during = agent.spool()
        # At most the one upload in flight as the server stopped was answered; nothing since.
        assert during["sent_batches"] <= at_outage["sent_batches"] + 1, (at_outage, during)
        assert during["depth"] > 0
    finally:
        server.start()

    wait_for_uploads(agent, during["sent_batches"] + 2, "uploads after the server came back")
    assert agent.process is not None and agent.process.poll() is None
    assert agent.stop() == 0
    drain(agent, server.url)
    assert_exactly_once(engine, agent, before)
    return agent


def test_500s_and_slow_answers_back_off_and_everything_arrives_once(
    server: ServerProcess,
    engine: Engine,
    agents: list[AgentProcess],
    proxies: list[FaultProxy],
    tmp_path: Path,
) -> None:
    before = set(edge_ingestions(engine))
    proxy = FaultProxy(server.port)
    proxies.append(proxy)
    planned = [
        Fault("500"),
        Fault("500"),
        Fault("500"),
        Fault("500-after"),  # the server took the batch; the agent hears 500 and must resend the same bytes
        Fault("slow", 2.5),  # longer than http_timeout_s: accepted, but the answer never arrives in time
        Fault("delay", 0.3),  # slow but in time: simply accepted
        Fault("500-after"),
        Fault("slow", 2.5),
    ]
    proxy.inject(*planned)
    agent = new_agent(agents, tmp_path, proxy.url, http_timeout_s=1.0)
    agent.start()
    wait_until(
        lambda: proxy.remaining() == 0,
        "the agent to run into every injected fault",
        timeout=60,
        interval=0.2,
        process=agent.process,
        log=agent.log,
    )
    wait_for_uploads(agent, agent.spool()["sent_batches"] + 2, "uploads after the faults")
    assert agent.stop() == 0
    drain(agent, proxy.url)

    assert_exactly_once(engine, agent, before)
    assert [kind for kind, _ in proxy.done] == [fault.kind for fault in planned]
    log = agent.log_text()
    assert log.count("server unavailable") >= 7, log[-3000:]  # every 500 and timeout led to a backoff
    # The batches the server had already taken were resent byte-identical and answered 200 (known bytes).
    uploads = [status for path, status in proxy.forwarded if path.startswith("/api/edge/ingest/upload")]
    assert uploads.count(200) >= 3, uploads
    assert "already received" in log


def test_a_revoked_device_stops_uploading_and_says_so(
    server: ServerProcess, engine: Engine, registry: Any, agents: list[AgentProcess], tmp_path: Path
) -> None:
    agent = new_agent(agents, tmp_path, server.url)
    agent.start()
    wait_for_uploads(agent, 1, "a first upload")

    # the operator's way: the admin route, with the API token, over HTTP
    revoked = requests.post(
        f"{server.url}/api/devices/{agent.device_id}/revoke",
        json={"reason": "e2e: device reported stolen"},
        headers={"Authorization": f"Bearer {TEST_TOKEN}"},
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    device = registry.get(agent.device_id)
    assert device is not None and device.status == "revoked"
    wait_until(
        lambda: "is revoked or forbidden (403" in agent.log_text(),
        "the agent to say it is revoked",
        timeout=30,
        interval=0.2,
        process=agent.process,
        log=agent.log,
    )
    stopped = agent.spool()
    known = set(edge_ingestions(engine))
    rows_then = curated(engine, agent.device_id)[0]
    time.sleep(3.0)  # several upload and heartbeat cadences

    after = agent.spool()
    assert agent.process is not None and agent.process.poll() is None, "the agent keeps running, spooling"
    assert after["sent_batches"] == stopped["sent_batches"], (stopped, after)
    assert after["appended"] > stopped["appended"] and after["depth"] > 0  # readings still kept
    assert after["dropped_events"] == 0 and after["rejected_events"] == 0  # nothing thrown away
    assert set(edge_ingestions(engine)) - known == set()  # no upload was even attempted successfully
    assert curated(engine, agent.device_id)[0] >= rows_then
    log = agent.log_text()
    assert "uploads stopped" in log and "Un-revoke it on the server" in log
    assert log.count("is revoked or forbidden") == 1, "said once, not a loop of refused requests"


def test_kill_9_mid_upload_repeatedly_loses_and_duplicates_nothing(
    server: ServerProcess,
    engine: Engine,
    agents: list[AgentProcess],
    proxies: list[FaultProxy],
    tmp_path: Path,
) -> None:
    before = set(edge_ingestions(engine))
    proxy = FaultProxy(server.port)
    proxies.append(proxy)
    agent = new_agent(agents, tmp_path, proxy.url)
    kinds = ["hold-after", "hold", "hold-after", "hold", "hold-after"]
    started = time.monotonic()
    for round_number, kind in enumerate(kinds):
        proxy.rearm()
        # Let a few uploads through first so each kill lands on a different batch, later in the run.
        proxy.inject(*[Fault("pass")] * round_number, Fault(kind))
        agent.start()
        # An upload is in flight: held before the server saw it, or after the server accepted it.
        wait_until(
            proxy.held.is_set,
            f"an upload to be in flight ({kind})",
            timeout=30,
            interval=0.05,
            process=agent.process,
            log=agent.log,
        )
        agent.kill()
        assert agent.process is not None and agent.process.returncode == -9
        proxy.release()
    assert time.monotonic() - started < 90
    assert [kind for kind, _ in proxy.done if kind != "pass"] == kinds

    drain(agent, proxy.url)
    assert_exactly_once(engine, agent, before)
    uploads = [status for path, status in proxy.forwarded if path.startswith("/api/edge/ingest/upload")]
    assert uploads.count(200) >= 3, uploads  # each batch the server took before the kill came back as known


def test_queued_commands_reach_the_agent_and_their_results_come_back(
    server: ServerProcess, registry: Any, agents: list[AgentProcess], tmp_path: Path
) -> None:
    """The command channel end to end: queued in the registry, run by the agent, acknowledged."""
    from datetime import timedelta

    from eventpulse.ports.devices import Command

    agent = new_agent(agents, tmp_path, server.url, commands_interval_s=0.5)
    agent.start()
    wait_for_uploads(agent, 1, "a first upload")
    now = datetime.now(UTC)
    queued = {}
    for kind, params in (
        ("set_sampling_interval", {"seconds": 2}),
        ("upload_logs", {"lines": 5}),
        ("update_agent", {"version": __version__}),  # already running it: acked ok at once
        ("update_agent:new", {"version": "999.0.0"}),  # handed to the updater, acked after its result
    ):
        command = Command(
            command_id=uuid.uuid4().hex,
            device_id=agent.device_id,
            kind=kind.split(":")[0],  # type: ignore[arg-type]
            params=params,
            status="queued",
            created_by="e2e",
            created_at=now,
            expires_at=now + timedelta(minutes=5),
        )
        registry.queue_command(command)
        queued[kind] = command.command_id

    def finished(kinds: tuple[str, ...]) -> dict[str, Any] | None:
        found = {kind: registry.get_command(queued[kind]) for kind in kinds}
        done = all(c is not None and c.status in {"succeeded", "failed"} for c in found.values())
        return found if done else None

    first = ("set_sampling_interval", "upload_logs", "update_agent")
    found = wait_until(
        lambda: finished(first),
        "the commands acknowledged",
        timeout=30,
        interval=0.3,
        process=agent.process,
        log=agent.log,
    )
    interval, logs, current = found["set_sampling_interval"], found["upload_logs"], found["update_agent"]
    assert interval.status == "succeeded" and "sampling every 2 s" in str(interval.result), interval
    assert logs.status == "succeeded" and "eventpulse_edge" in str(logs.result), logs
    assert current.status == "succeeded" and f"running {__version__}" in str(current.result), current

    # The other version: the agent asks the updater and does not ack; the updater (run here, as the
    # path unit would, on a device without update.toml) records a failure; the server hands the
    # unacked command out again and the agent acks it with that failure.
    request = agent.state_dir / REQUEST_NAME
    wait_until(
        request.exists, "the update request", timeout=15, interval=0.2, process=agent.process, log=agent.log
    )
    assert json.loads(request.read_text())["command_id"] == queued["update_agent:new"]
    pending = registry.get_command(queued["update_agent:new"])
    assert pending is not None and pending.status == "delivered", pending
    result = process_request(agent.state_dir, tmp_path / "absent-update.toml", restart_unit=None)
    assert result is not None and result["ok"] is False
    found = wait_until(
        lambda: finished(("update_agent:new",)),
        "the update acked",
        timeout=15,
        interval=0.3,
        process=agent.process,
        log=agent.log,
    )
    refused = found["update_agent:new"]
    assert refused.status == "failed" and "remote update not enabled" in str(refused.result), refused
    assert not request.exists() and not (agent.state_dir / RESULT_NAME).exists()
    assert '"sampling_interval_s": 2' in (agent.state_dir / "overrides.json").read_text()
    assert agent.stop() == 0


# -- signed-URL uploads on the GCS emulator, and the Firestore registry behind the server (issue 8) ------


@contextlib.contextmanager
def own_server(
    postgres_admin_url: str, root: Path, extra_env: dict[str, str]
) -> Iterator[tuple[Any, Engine]]:
    """A second server with settings of its own, on a database of its own.

    Its own database, because the module's server reclaims stale ingestions of the shared one and
    would look for another landing's files.
    """
    name = f"eventpulse_edge_e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    root.mkdir(parents=True, exist_ok=True)
    process = ServerProcess(url, data_dir=root / "data", log=root / "serve.log", extra_env=extra_env)
    db = create_engine(url)
    try:
        process.start()
        yield process, db
    finally:
        process.stop()
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def recorded_object_names(agent: AgentProcess) -> list[str]:
    """The signed-URL object names the agent's spool holds for its unsent batches."""
    db = sqlite3.connect(f"file:{agent.state_dir / 'spool.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return [row[0] for row in db.execute("SELECT object_name FROM batches WHERE object_name IS NOT NULL")]
    finally:
        db.close()


FINALIZE_PATH = "/api/edge/ingest/from_gcs"


def test_signed_url_uploads_on_the_gcs_landing_load_every_event_once_through_500s_and_a_kill(
    postgres_admin_url: str,
    gcs_emulator: Any,
    signer_file: Path,
    agents: list[AgentProcess],
    proxies: list[FaultProxy],
    tmp_path: Path,
) -> None:
    """Mint, PUT to fake-gcs-server, finalize; a finalize answered 500 after the server registered it,
    and a SIGKILL after the PUT with the finalize in flight: the recorded object is re-finalized."""
    from tests.gcs_emulator import storage_client

    settings = {
        "EVENTPULSE_LANDING": "gcs",
        "EVENTPULSE_GCS_BUCKET": gcs_emulator.bucket,
        "EVENTPULSE_GCS_ENDPOINT": gcs_emulator.endpoint,
        "EVENTPULSE_GCS_CREDENTIALS_FILE": str(signer_file),
        "EVENTPULSE_RAW_PREFIX": f"raw-{uuid.uuid4().hex[:8]}/",
    }
    with own_server(postgres_admin_url, tmp_path / "gcs_server", settings) as (gcs_server, engine):
        proxy = FaultProxy(gcs_server.port, match=FINALIZE_PATH)  # the PUTs go straight to the bucket
        proxies.append(proxy)
        proxy.inject(Fault("500-after"), Fault("pass"), Fault("hold"))
        agent = new_agent(agents, tmp_path, proxy.url, upload_mode="signed_url")
        agent.start()
        wait_until(
            proxy.held.is_set,
            "a finalize in flight after its PUT",
            timeout=40,
            interval=0.05,
            process=agent.process,
            log=agent.log,
        )
        agent.kill()
        proxy.release()
        assert recorded_object_names(agent), "the minted object's name is in the spool before the finalize"
        drain(agent, proxy.url)
        assert_exactly_once(engine, agent, set())

        assert [kind for kind, _ in proxy.done] == ["500-after", "pass", "hold"]
        paths = [path for path, _ in proxy.forwarded]
        assert not any(path.startswith(UPLOAD_PATH) for path in paths), "every batch went by signed URL"
        finalizes = [status for path, status in proxy.forwarded if path == FINALIZE_PATH]
        assert finalizes.count(200) >= 1, finalizes  # the 500-after batch, re-finalized, was known
        bucket = storage_client(gcs_emulator).bucket(gcs_emulator.bucket)
        objects = list(bucket.list_blobs(prefix=f"edge-uploads/{agent.device_id}/"))
        assert len(objects) >= len(edge_ingestions(engine)) > 0
        assert all(blob.metadata.get("source") == f"device:{agent.device_id}" for blob in objects)


def test_signed_url_mode_on_a_filesystem_landing_falls_back_to_direct_upload(
    server: ServerProcess, engine: Engine, agents: list[AgentProcess], tmp_path: Path
) -> None:
    before = set(edge_ingestions(engine))
    agent = new_agent(agents, tmp_path, server.url, upload_mode="signed_url")
    agent.start()
    wait_for_uploads(agent, 2, "direct uploads after the 409")
    assert agent.stop() == 0
    drain(agent, server.url)
    assert_exactly_once(engine, agent, before)
    runs = agent.log_text().split("--- run")[1:]
    assert runs[0].count("bucket_landing_required") == 1, runs[0]  # said once, then direct uploads
    assert all(run.count("bucket_landing_required") <= 1 for run in runs), runs  # at most once a process


def test_server_down_with_the_firestore_registry_behind_the_server(
    postgres_admin_url: str, agents: list[AgentProcess], tmp_path: Path
) -> None:
    """The server-down scenario again, the server's device registry on the Firestore emulator."""
    sys.path.insert(0, str(REPO_ROOT / "emulators"))
    try:
        from firestore import FirestoreEmulator  # emulators/ is not a package
    finally:
        sys.path.remove(str(REPO_ROOT / "emulators"))
    from eventpulse.adapters.firestore.devices import FirestoreDeviceRegistry
    from eventpulse.settings import Settings

    prefix = f"e{uuid.uuid4().hex[:12]}_"
    with FirestoreEmulator() as emulator:
        settings = {
            "EVENTPULSE_DEVICE_REGISTRY": "firestore",
            "EVENTPULSE_FIRESTORE_EMULATOR_HOST": emulator.host,
            "EVENTPULSE_FIRESTORE_COLLECTION_PREFIX": prefix,
        }
        with own_server(postgres_admin_url, tmp_path / "fs_server", settings) as (fs_server, engine):
            agent = server_down_scenario(fs_server, engine, agents, tmp_path)
        registry = FirestoreDeviceRegistry.from_settings(
            Settings(
                device_registry="firestore",
                firestore_emulator_host=emulator.host,
                firestore_collection_prefix=prefix,
            )
        )
        try:
            device = registry.get(agent.device_id)
        finally:
            registry.close()
    assert device is not None and device.status == "active", "enrolled into Firestore"
    assert device.last_seen_at is not None and device.health.agent_version, device


def test_first_enrollment_through_500s_is_retried_in_process_and_a_bad_enroll_token_exits_4(
    server: ServerProcess,
    engine: Engine,
    agents: list[AgentProcess],
    proxies: list[FaultProxy],
    tmp_path: Path,
) -> None:
    """No traceback-and-restart loop at first boot: one process retries, or exits 4 saying what to do."""
    before = set(edge_ingestions(engine))
    proxy = FaultProxy(server.port, match="/api/edge/enroll")
    proxies.append(proxy)
    proxy.inject(Fault("500"), Fault("500"), Fault("500"))
    agent = new_agent(agents, tmp_path, proxy.url)
    agent.start()
    wait_for_uploads(agent, 1, "uploads after enrolling through three 500s")
    assert [kind for kind, _ in proxy.done] == ["500", "500", "500"]
    log = agent.log_text()
    assert log.count("enrollment failed") == 3 and "enrolled as" in log and "Traceback" not in log, log
    assert agent.stop() == 0
    drain(agent, server.url)
    assert_exactly_once(engine, agent, before)

    refused = new_agent(agents, tmp_path, server.url)
    refused.enroll_token_file.write_text("not-the-fleet-token")
    process = refused.start()
    assert process.wait(timeout=30) == 4, refused.log_text()
    said = refused.log_text()
    assert said.count("enrollment refused (401") == 1 and "enroll_token_file" in said, said
    assert "Traceback" not in said


def test_a_dataset_the_device_may_not_send_holds_its_batches_while_heartbeats_go_on(
    server: ServerProcess, engine: Engine, registry: Any, agents: list[AgentProcess], tmp_path: Path
) -> None:
    """403 dataset_not_allowed is not revocation: nothing set aside, heartbeats continue, and once the
    dataset is fixed the held batches load, each event once."""
    before = set(edge_ingestions(engine))
    agent = new_agent(agents, tmp_path, server.url, dataset="sales", heartbeat_interval_s=0.5)
    agent.start()
    wait_until(
        lambda: "403 dataset_not_allowed" in agent.log_text(),
        "the agent to report the refused dataset",
        timeout=30,
        interval=0.2,
        process=agent.process,
        log=agent.log,
    )
    first = registry.get(agent.device_id)
    time.sleep(2.0)  # several upload and heartbeat cadences
    held = agent.spool()
    assert held["sent_batches"] == 0 and held["pending_batches"] > 0 and held["rejected_events"] == 0, held
    seen = registry.get(agent.device_id)
    assert first is not None and seen is not None and seen.last_seen_at > first.last_seen_at
    assert seen.health.spool_depth and seen.health.spool_depth > 0, seen.health  # heartbeats still sent
    log = agent.log_text()
    assert "revoked" not in log and "uploads stopped" not in log
    assert 1 <= log.count("403 dataset_not_allowed") <= 8, "once per upload interval, not every tick"
    assert agent.stop() == 0

    agent.settings["dataset"] = "edge_telemetry"  # the fix: the held batches go to the right dataset
    drain(agent, server.url)
    assert_exactly_once(engine, agent, before)

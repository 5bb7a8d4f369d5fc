"""Registering a file never waits on another file's load, even the first load of a new dataset.

Issue 12 found a second ingestion's ``INSERT INTO datasets`` waiting over a minute on the transaction
of a COPY into a new dataset. Here the first load of ``edge_telemetry`` (a new dataset: the database
is empty) is held open in the middle of its COPY, its transaction holding the new ``datasets`` row it
inserted, while files of the same dataset and of another new one are registered through the real
API. Loads of one dataset serialise on that row by design (one schema history per dataset); a load of
another dataset does not wait.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from eventpulse.api.app import create_app
from eventpulse.demo.generator import write_case
from eventpulse.landing.register import register_path
from eventpulse.pipeline import heartbeat
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.states import Status
from tests.helpers import RecordingQueue, wait_until
from tests.integration.api_support import upload

PROMPT_SECONDS = 5.0
"""A registration's bound: the load it must not wait on is held open for far longer."""


class PausedLoad:
    """The first batch progress report of a load blocks until ``release``: its COPY is open."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paused, self.released = threading.Event(), threading.Event()
        self.holder: int | None = None
        original = heartbeat.Heartbeat.progress

        def progress(beat: heartbeat.Heartbeat, rows_processed: int) -> None:
            original(beat, rows_processed)
            if self.holder in (None, threading.get_ident()) and not self.released.is_set():
                self.holder = threading.get_ident()
                self.paused.set()
                assert self.released.wait(120), "the test never released the paused load"

        monkeypatch.setattr(heartbeat.Heartbeat, "progress", progress)


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> Iterator[PausedLoad]:
    load = PausedLoad(monkeypatch)
    yield load
    load.released.set()


def in_thread(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:  # asserted by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def sessions(services: Any) -> list[Any]:
    with services.store.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT state, wait_event_type, query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        )


def test_files_are_registered_promptly_while_a_new_datasets_first_load_holds_its_copy_open(
    services: Any, paused: PausedLoad, tmp_path: Path
) -> None:
    services.queue = RecordingQueue()  # registering processes nothing: the test runs the loads
    client: FlaskClient = create_app(services).test_client()
    first = write_case("edge_telemetry", "baseline", "csv", tmp_path / "a", rows=5000, seed=21)
    registered = register_path(services, path=first, dataset="edge_telemetry", source="t", actor="t")
    first_id = uuid.UUID(str(registered.ingestion["id"]))
    with services.store.read() as tx:
        assert tx.schemas.latest("edge_telemetry") is None  # a new dataset: this load creates it

    loading, loaded = in_thread(lambda: process_ingestion(services, first_id, worker="first"))
    assert paused.paused.wait(60), f"the first load never reached its COPY: {loaded}"
    copying = [s for s in sessions(services) if s.query.lstrip().upper().startswith("COPY")]
    assert copying, f"no COPY open while the load is paused: {sessions(services)}"
    with services.store.engine.connect() as conn:  # the load's own, uncommitted datasets row
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar() == 0

    timings: dict[str, float] = {}
    ids: dict[str, uuid.UUID] = {}
    for name, dataset, body in (
        (
            "same dataset",
            "edge_telemetry",
            write_case("edge_telemetry", "baseline", "csv", tmp_path / "b", rows=50, seed=22),
        ),
        (
            "another new dataset",
            "parcels",
            write_case("parcels", "baseline", "csv", tmp_path / "c", rows=50, seed=23),
        ),
    ):
        started = time.monotonic()
        response = upload(client, body.read_bytes(), dataset=dataset, filename=body.name)
        timings[name] = time.monotonic() - started
        assert response.status_code == 202, response.get_json()
        ids[name] = uuid.UUID(response.get_json()["id"])
    assert max(timings.values()) < PROMPT_SECONDS, timings
    assert loading.is_alive() and not paused.released.is_set()  # the first load was open throughout

    # The other dataset's load does not wait either; the same dataset's waits on the row lock.
    started = time.monotonic()
    other = process_ingestion(services, ids["another new dataset"], worker="other")
    assert other.status == Status.LOADED
    timings["other dataset's load"] = time.monotonic() - started
    assert timings["other dataset's load"] < 60
    same, same_out = in_thread(lambda: process_ingestion(services, ids["same dataset"], worker="same"))
    wait_until(
        lambda: any(s.wait_event_type == "Lock" for s in sessions(services)),
        "the second load of the dataset to wait on the first's row lock",
        describe=lambda: sessions(services),
    )
    paused.released.set()
    loading.join(60)
    same.join(60)
    assert not loading.is_alive() and not same.is_alive()
    assert loaded["result"].status == Status.LOADED, loaded
    assert same_out["result"].status == Status.LOADED, same_out
    print(f"registrations during the load: {', '.join(f'{k} {v:.2f} s' for k, v in timings.items())}")

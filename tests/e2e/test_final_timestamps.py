"""Every final ingestion of a real run, one per final state, says it finished no later than it last changed.

The API is served over HTTP on 127.0.0.1 (werkzeug, as in ``test_cli.py``) on the session database;
files go in with real HTTP uploads, the pipeline runs as the server runs it, and the only state that
needs a worker call of its own (FAILED_CONTRACT: the contract breaks between intake and processing)
is processed by ``process_ingestion``, the worker's entry.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from eventpulse.api.app import create_app
from eventpulse.demo.generator import Case, Dataset, write_case
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.states import TERMINAL, Status
from tests.helpers import RecordingQueue, set_contract_meta
from tests.integration.api_support import AUTH
from tests.integration.quarantine_support import DATASET, GOOD_AND_BAD, write_csv, write_readings_contract


@pytest.fixture
def server_url(services) -> Iterator[str]:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(max_attempts=1)  # FAILED_MAX_ATTEMPTS at once
    server = make_server("127.0.0.1", 0, create_app(services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def call(url: str, method: str = "GET", body: bytes | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=AUTH)
    if body is not None:
        request.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        pytest.fail(f"{method} {url} answered {exc.code}: {exc.read()[:2000]!r}")


def upload(base: str, path: Path, dataset: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"dataset": dataset, "filename": path.name})
    return call(f"{base}/api/ingest/upload?{query}", "POST", path.read_bytes())


def case(tmp_path: Path, dataset: Dataset, name: Case, *, seed: int = 7) -> Path:
    return write_case(dataset, name, "csv", tmp_path / f"{dataset}-{name}-{seed}", rows=20, seed=seed)


def test_every_final_state_has_finished_at_no_later_than_updated_at(
    services, server_url: str, tmp_path: Path, contracts_dir: Path
) -> None:
    ended: dict[str, str] = {}

    def record(body: dict[str, Any]) -> None:
        ended[body["status"]] = body["id"]

    record(upload(server_url, case(tmp_path, "edge_telemetry", "baseline"), "edge_telemetry"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    record(upload(server_url, empty, "edge_telemetry"))
    record(upload(server_url, case(tmp_path, "edge_telemetry", "duplicate_pk", seed=8), "edge_telemetry"))
    record(upload(server_url, case(tmp_path, "parcels", "baseline"), "parcels"))
    record(
        upload(server_url, case(tmp_path, "parcels", "type_change", seed=9), "parcels")
    )  # type_changes: fail
    write_readings_contract(contracts_dir)  # rows failing its checks are held back: PARTIALLY_LOADED
    record(upload(server_url, write_csv(tmp_path / "held.csv", GOOD_AND_BAD), DATASET))
    held = upload(server_url, case(tmp_path, "edge_telemetry", "type_change", seed=10), "edge_telemetry")
    assert held["status"] == Status.QUARANTINED, held["error"]
    record(call(f"{server_url}/api/ingestions/{held['id']}/reject", "POST", b""))
    with services.store.engine.begin() as conn:  # an operator's rule that every new reading breaks
        conn.execute(
            text('ALTER TABLE "curated_edge_telemetry" ADD CONSTRAINT no_new CHECK (false) NOT VALID')
        )
    record(upload(server_url, case(tmp_path, "edge_telemetry", "baseline", seed=11), "edge_telemetry"))
    queue, services.queue = services.queue, RecordingQueue()  # registered under a valid contract ...
    waiting = upload(server_url, case(tmp_path, "edge_telemetry", "baseline", seed=12), "edge_telemetry")
    services.queue = queue
    set_contract_meta(
        contracts_dir, "edge_telemetry", primary_keys=["event_id"]
    )  # ... broken before processing
    assert process_ingestion(services, waiting["id"]).status is Status.FAILED_CONTRACT
    ended[Status.FAILED_CONTRACT] = waiting["id"]

    assert set(ended) == {s.value for s in TERMINAL}, ended
    with services.store.read() as tx:
        final = [row for row in tx.ingestions.page(limit=100).items if row["status"] in TERMINAL]
    assert {row["status"] for row in final} == set(ended)
    for row in final:
        assert row["finished_at"] is not None, row
        assert row["finished_at"] <= row["updated_at"], (row["status"], row["finished_at"], row["updated_at"])
    for status, ingestion_id in ended.items():  # and the API says the same
        shown = call(f"{server_url}/api/ingestions/{ingestion_id}")
        finished, updated = (datetime.fromisoformat(shown[k]) for k in ("finished_at", "updated_at"))
        assert shown["status"] == status and finished <= updated, shown

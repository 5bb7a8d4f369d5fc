"""A contract that does not validate is refused at intake (422), and breaks processing terminally."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.api.app import create_app
from eventpulse.landing.register import register_path, replay
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import TERMINAL, Status
from tests.helpers import RecordingQueue, set_contract_meta
from tests.integration.api_support import TASK_AUTH, edge_csv, upload

DATASET = "edge_telemetry"
BROKEN_KEY = "meta.eventpulse.primary_keys"


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def break_contract(contracts_dir: Path) -> None:
    """A typo in a key name: the loader refuses unknown keys instead of ignoring them."""
    set_contract_meta(contracts_dir, DATASET, primary_keys=["event_id"])


def count_ingestions(services) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestions)).scalar_one())


def assert_contract_refusal(response) -> None:
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "contract_error"
    assert BROKEN_KEY in error["message"] and "unknown key" in error["message"]
    assert "remove it" in error["hint"]


def test_upload_under_a_contract_that_does_not_validate_is_refused_with_422(
    client, services, contracts_dir, tmp_path
) -> None:
    break_contract(contracts_dir)

    response = upload(client, edge_csv(tmp_path).read_bytes(), dataset=DATASET)

    assert_contract_refusal(response)
    assert count_ingestions(services) == 0
    assert not list(services.settings.raw_dir.rglob("*.csv"))  # no bytes were kept either


def test_from_path_under_a_broken_contract_is_refused_and_leaves_the_file_in_incoming(
    client, services, contracts_dir, tmp_path
) -> None:
    incoming = services.settings.incoming_dir / DATASET / "readings.csv"
    incoming.parent.mkdir(parents=True)
    incoming.write_bytes(edge_csv(tmp_path).read_bytes())
    break_contract(contracts_dir)

    response = client.post(
        "/api/ingest/from_path", json={"path": f"{DATASET}/readings.csv"}, headers=TASK_AUTH
    )

    assert_contract_refusal(response)
    assert incoming.is_file() and count_ingestions(services) == 0


def test_a_missing_contract_is_still_404(client, tmp_path) -> None:
    response = upload(client, edge_csv(tmp_path).read_bytes(), dataset="no_contract")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_contract_broken_after_intake_fails_at_once_and_is_not_retried(
    services, contracts_dir, tmp_path
) -> None:
    services.queue = recorder = RecordingQueue()  # registered under a valid contract, not yet processed
    path = edge_csv(tmp_path)
    registered = register_path(services, path=path, dataset=DATASET, source="test", actor="test").ingestion
    contract = contracts_dir / f"{DATASET}.json"
    valid = contract.read_bytes()
    break_contract(contracts_dir)

    result = process_ingestion(services, registered["id"])

    assert result.status is Status.FAILED_CONTRACT and not result.retry
    with services.store.read() as tx:
        row = tx.ingestions.get(registered["id"])
    assert row is not None and Status(row["status"]) in TERMINAL
    assert row["attempts"] == 1 and row["finished_at"] is not None
    assert row["error"]["code"] == "contract_error" and BROKEN_KEY in row["error"]["message"]
    assert f"eventpulse replay {registered['id']}" in row["error"]["hint"]
    recorder.ids.clear()
    assert not reclaim_stale(services, older_than_seconds=0)  # nothing to retry
    assert recorder.ids == []
    again = process_ingestion(services, registered["id"])  # a redelivery does nothing
    assert not again.processed and again.status is Status.FAILED_CONTRACT

    contract.write_bytes(valid)  # the fix, then the replay the hint names
    new = replay(services, registered["id"], actor="test")
    assert process_ingestion(services, new["id"]).status is Status.LOADED

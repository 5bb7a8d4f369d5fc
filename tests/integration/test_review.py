"""Quarantine review: an operator approves a held file's new schema (it loads) or rejects it (it ends)."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from eventpulse.api.app import create_app
from eventpulse.cli import main
from eventpulse.errors import Conflict, NotFound
from eventpulse.pipeline.review import approve_schema, reject_schema
from eventpulse.states import Status
from tests.helpers import curated_columns, curated_count, ingest, schema_versions, set_contract_meta
from tests.integration.api_support import AUTH, edge_csv

DATASET = "edge_telemetry"
ROWS = 20


def _held(
    services: Any, tmp_path: Path, case: str = "type_change", path: Path | None = None
) -> dict[str, Any]:
    """Load a baseline file, then ingest a drifted one, which the policy holds."""
    baseline = ingest(services, edge_csv(tmp_path, rows=ROWS, seed=7), DATASET)
    assert baseline["status"] == Status.LOADED, baseline["error"]
    held = ingest(services, path or edge_csv(tmp_path, rows=ROWS, seed=8, case=case), DATASET)
    assert held["status"] == Status.QUARANTINED, held["error"]
    assert "approve or reject" in held["error"]["hint"]
    return held


def _row(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def _events(services: Any, ingestion_id: uuid.UUID) -> list[tuple[str, str | None]]:
    with services.store.read() as tx:
        events, _ = tx.audit.page(entity_id=str(ingestion_id), limit=500)
    return [(e["action"], e["details"].get("to")) for e in reversed(events)]


def test_approving_a_type_change_loads_the_file_with_the_widened_column(services, tmp_path: Path) -> None:
    held = _held(services, tmp_path)  # edge_telemetry's own policy: type_changes -> quarantine
    assert schema_versions(services, DATASET) == 1
    assert curated_columns(services, DATASET)["value"] == "double precision"

    row = approve_schema(services, held["id"], actor="alice", note="units inside values are expected")

    assert row["status"] == Status.LOADED, row["error"]  # the inline queue processed it again
    assert (row["attempts"], row["rows_loaded"]) == (2, ROWS)
    assert curated_count(services, DATASET, ingestion_id=held["id"]) == ROWS
    assert curated_columns(services, DATASET)["value"] == "text"
    with services.store.read() as tx:
        history = tx.schemas.history(DATASET)
    assert [h["version"] for h in history] == [1, 2]
    assert history[-1]["reason"] == "approved by alice" and history[-1]["accepted_by"] == "alice"
    assert history[-1]["ingestion_id"] == held["id"]
    assert {c["name"]: c["type"] for c in history[-1]["schema"]["columns"]}["value"] == "string"
    assert _events(services, held["id"]) == [
        ("ingestion.registered", None),
        ("ingestion.transition", "PROCESSING"),
        ("ingestion.transition", "QUARANTINED"),
        ("ingestion.transition", "RECEIVED"),
        ("schema.approved", None),
        ("ingestion.transition", "PROCESSING"),
        ("ingestion.transition", "LOADED"),
    ]
    # The new baseline holds: more files of the new shape, and of the old one, load without a hold.
    again = ingest(services, edge_csv(tmp_path, rows=ROWS, seed=9, case="type_change"), DATASET)
    older = ingest(services, edge_csv(tmp_path, rows=ROWS, seed=10), DATASET)
    assert (again["status"], older["status"]) == (Status.LOADED, Status.LOADED)
    assert schema_versions(services, DATASET) == 2


def test_approving_an_added_column_adds_a_nullable_curated_column(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    set_contract_meta(
        contracts_dir, DATASET, drift_policy={"new_columns": "quarantine", "removed_columns": "warn"}
    )
    held = _held(services, tmp_path, case="add_column")
    assert "uptime_s" not in curated_columns(services, DATASET)

    row = approve_schema(services, held["id"], actor="bob")

    assert row["status"] == Status.LOADED, row["error"]
    assert curated_columns(services, DATASET)["uptime_s"] == "bigint"
    assert schema_versions(services, DATASET) == 2
    # Older rows have no value, so the approved column is optional: a file without it still loads.
    without = ingest(services, edge_csv(tmp_path, rows=ROWS, seed=11), DATASET)
    assert without["status"] == Status.LOADED, without["error"]


def test_approving_the_first_file_of_a_dataset_starts_its_history(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    set_contract_meta(contracts_dir, DATASET, drift_policy={"new_columns": "quarantine"})
    first = ingest(services, edge_csv(tmp_path, rows=ROWS, case="add_column"), DATASET)
    assert first["status"] == Status.QUARANTINED  # held against the contract's own columns
    assert schema_versions(services, DATASET) == 0

    row = approve_schema(services, first["id"], actor="frank")

    assert row["status"] == Status.LOADED, row["error"]
    assert schema_versions(services, DATASET) == 1
    assert "uptime_s" in curated_columns(services, DATASET)
    assert curated_count(services, DATASET) == ROWS


def test_rejecting_ends_the_ingestion_and_keeps_the_baseline(services, tmp_path: Path) -> None:
    held = _held(services, tmp_path)

    row = reject_schema(services, held["id"], actor="carol", note="firmware bug")

    assert row["status"] == Status.REJECTED and row["finished_at"] is not None
    assert row["error"]["code"] == "schema_rejected" and "firmware bug" in row["error"]["message"]
    assert schema_versions(services, DATASET) == 1
    assert curated_columns(services, DATASET)["value"] == "double precision"
    assert curated_count(services, DATASET, ingestion_id=held["id"]) == 0
    assert _events(services, held["id"])[-2:] == [
        ("ingestion.transition", "REJECTED"),
        ("schema.rejected", None),
    ]
    with pytest.raises(Conflict, match="it is REJECTED"):
        approve_schema(services, held["id"], actor="carol")


def test_deciding_on_an_ingestion_that_is_not_held_is_a_conflict_naming_its_state(services, tmp_path) -> None:
    loaded = ingest(services, edge_csv(tmp_path, rows=ROWS), DATASET)
    with pytest.raises(Conflict) as caught:
        reject_schema(services, loaded["id"], actor="dave")
    assert "LOADED" in caught.value.hint and caught.value.details == {"status": "LOADED"}
    with pytest.raises(NotFound):
        approve_schema(services, uuid.uuid4(), actor="dave")


def test_a_removed_column_under_quarantine_cannot_be_approved_into_a_loop(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    set_contract_meta(contracts_dir, DATASET, drift_policy={"removed_columns": "quarantine"})
    source = edge_csv(tmp_path, rows=ROWS, seed=12)
    lacking = tmp_path / "without_message.csv"
    with source.open(newline="") as src, lacking.open("w", newline="") as dst:
        csv.writer(dst).writerows(record[:-1] for record in csv.reader(src))  # drop "message"
    held = _held(services, tmp_path, path=lacking)

    with pytest.raises(Conflict, match="approving cannot release"):
        approve_schema(services, held["id"], actor="erin")

    assert _row(services, held["id"])["status"] == Status.QUARANTINED  # rolled back, still awaiting
    assert schema_versions(services, DATASET) == 1
    assert reject_schema(services, held["id"], actor="erin")["status"] == Status.REJECTED


def test_review_endpoints_need_a_token_answer_like_replay_and_409_the_second_time(services, tmp_path) -> None:
    client = create_app(services).test_client()
    held = _held(services, tmp_path)
    url = f"/api/ingestions/{held['id']}/approve"

    unauthorized = client.post(url)
    assert unauthorized.status_code == 401
    assert unauthorized.get_json()["error"]["code"] == "unauthorized"
    assert _row(services, held["id"])["status"] == Status.QUARANTINED

    approved = client.post(url, json={"note": "looks right"}, headers=AUTH)
    assert approved.status_code == 202, approved.get_json()
    assert approved.get_json()["id"] == str(held["id"])
    assert approved.get_json()["status"] == Status.LOADED

    again = client.post(url, headers=AUTH)
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "conflict" and "LOADED" in error["hint"]
    assert error["details"]["status"] == "LOADED"
    assert client.post(f"/api/ingestions/{held['id']}/reject", headers=AUTH).status_code == 409


def test_reject_endpoint_and_its_input_errors(services, tmp_path) -> None:
    client = create_app(services).test_client()
    held = _held(services, tmp_path)
    url = f"/api/ingestions/{held['id']}/reject"

    assert client.post(url, json=["not", "an object"], headers=AUTH).status_code == 400
    assert client.post(url, json={"note": 5}, headers=AUTH).status_code == 400
    assert client.post(url, json={"reason": "typo"}, headers=AUTH).status_code == 400
    assert client.post("/api/ingestions/nope/reject", headers=AUTH).status_code == 400
    assert client.post(f"/api/ingestions/{uuid.uuid4()}/reject", headers=AUTH).status_code == 404
    assert client.post(url, headers={"Authorization": "Bearer wrong"}).status_code == 401

    rejected = client.post(url, json={"note": "sender fixes it"}, headers=AUTH)
    assert rejected.status_code == 200, rejected.get_json()
    assert rejected.get_json()["status"] == Status.REJECTED
    assert "sender fixes it" in rejected.get_json()["error"]["message"]


@pytest.fixture
def env(services) -> dict[str, str]:
    s = services.settings
    return {
        "EVENTPULSE_DATA_DIR": str(s.data_dir),
        "DATABASE_URL": str(s.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(s.contracts_dir),
    }


def test_cli_approve_and_reject(services, env, tmp_path: Path) -> None:
    held = _held(services, tmp_path)
    runner = CliRunner()

    approved = runner.invoke(main, ["approve", str(held["id"]), "--note", "ok"], env=env)
    assert approved.exit_code == 0, approved.output
    assert "status: LOADED" in approved.output

    twice = runner.invoke(main, ["reject", str(held["id"])], env=env)
    assert twice.exit_code == 1
    assert "LOADED" in twice.output

    assert runner.invoke(main, ["reject", str(uuid.uuid4())], env=env).exit_code == 2
    assert runner.invoke(main, ["approve", "not-a-uuid"], env=env).exit_code == 2

    other = ingest(services, edge_csv(tmp_path, rows=ROWS, seed=13, case="type_change"), DATASET)
    assert other["status"] == Status.LOADED  # the approved baseline already holds this shape

"""The quarantine API on the real app, pipeline and Postgres: list, export, discard, replay after a fix."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from eventpulse.api.app import create_app
from eventpulse.states import Status
from tests.helpers import ingest
from tests.integration.api_support import AUTH
from tests.integration.quarantine_support import DATASET, GOOD_AND_BAD, write_csv, write_readings_contract


@pytest.fixture
def client(services: Any) -> FlaskClient:
    return create_app(services).test_client()


@pytest.fixture
def held(services: Any, contracts_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """An ingestion of GOOD_AND_BAD: rows 2, 4 and 5 held back."""
    write_readings_contract(contracts_dir)
    row = ingest(services, write_csv(tmp_path / "r.csv", GOOD_AND_BAD), DATASET)
    assert row["status"] == Status.PARTIALLY_LOADED
    return row


def get_page(client: FlaskClient, **query: Any) -> dict[str, Any]:
    response = client.get("/api/quarantine", query_string=query, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def audit_actions(client: FlaskClient, entity_id: str) -> list[str]:
    body = client.get("/api/audit_events", query_string={"entity_id": entity_id}, headers=AUTH).get_json()
    return [e["action"] for e in body["items"]]


def test_list_filters_and_pages_with_a_cursor(client: FlaskClient, held: dict[str, Any]) -> None:
    first = get_page(client, dataset=DATASET, limit=2)
    second = get_page(client, dataset=DATASET, limit=2, cursor=first["next_cursor"])

    assert first["total"] == 3 and [r["source_row"] for r in first["items"]] == [2, 4]
    assert [r["source_row"] for r in second["items"]] == [5] and second["next_cursor"] is None
    in_set = get_page(client, expectation="expect_column_values_to_be_in_set")
    assert [r["source_row"] for r in in_set["items"]] == [4, 5]
    assert get_page(client, ingestion_id=str(held["id"]), status="held")["total"] == 3
    assert get_page(client, device_id="nosuch")["total"] == 0
    assert get_page(client, status="discarded")["total"] == 0
    detail = client.get(f"/api/ingestions/{held['id']}", headers=AUTH).get_json()
    assert (detail["status"], detail["rows_loaded"], detail["rows_quarantined"]) == ("PARTIALLY_LOADED", 5, 3)


def test_bad_filters_are_a_400_envelope(client: FlaskClient, held: dict[str, Any]) -> None:
    for query in ({"status": "lost"}, {"ingestion_id": "nope"}, {"limit": 0}, {"cursor": -1}):
        response = client.get("/api/quarantine", query_string=query, headers=AUTH)
        assert response.status_code == 400, query
        assert response.get_json()["error"]["hint"]


def test_export_is_every_matching_row_as_csv(client: FlaskClient, held: dict[str, Any]) -> None:
    response = client.get("/api/quarantine/export", query_string={"dataset": DATASET}, headers=AUTH)

    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["source_row"] for r in rows] == ["2", "4", "5"]
    assert json.loads(rows[0]["values"]) == {"id": "r2", "kind": "b", "value": "250"}
    assert rows[2]["expectations"].split() == [
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    ]
    assert rows[0]["ingestion_id"] == str(held["id"]) and rows[0]["status"] == "held"


def test_discard_needs_a_reason_and_a_selection(client: FlaskClient, held: dict[str, Any]) -> None:
    no_reason = client.post("/api/quarantine/discard", json={"dataset": DATASET}, headers=AUTH)
    nothing = client.post("/api/quarantine/discard", json={"reason": "x"}, headers=AUTH)
    assert no_reason.status_code == 400 and "reason" in no_reason.get_json()["error"]["message"]
    assert nothing.status_code == 400 and "ids" in nothing.get_json()["error"]["hint"]
    ids = [r["id"] for r in get_page(client)["items"]]

    response = client.post(
        "/api/quarantine/discard", json={"ids": ids[:2], "reason": "sensor was broken"}, headers=AUTH
    )

    assert response.status_code == 200 and response.get_json() == {"discarded": 2, "ids": ids[:2]}
    rows = get_page(client)["items"]
    assert [(r["status"], r["resolution_reason"]) for r in rows] == [
        ("discarded", "sensor was broken"),
        ("discarded", "sensor was broken"),
        ("held", None),
    ]
    assert rows[0]["resolved_by"] and rows[0]["resolved_at"]
    assert "quarantine.discarded" in audit_actions(client, str(held["id"]))
    again = client.post("/api/quarantine/discard", json={"ids": ids[:2], "reason": "again"}, headers=AUTH)
    assert again.get_json()["discarded"] == 0  # only held rows change


def test_replay_after_a_contract_fix_loads_rows_that_now_pass(
    client: FlaskClient, services: Any, contracts_dir: Path, held: dict[str, Any]
) -> None:
    write_readings_contract(contracts_dir, max_value=1000)  # the fix: 250 is now in range

    response = client.post("/api/quarantine/replay", json={"ingestion_id": str(held["id"])}, headers=AUTH)

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["rows"], body["remaining"], len(body["ingestions"])) == (3, 0, 1)
    replay = body["ingestions"][0]
    assert replay["replay_of"] == str(held["id"]) and replay["source"] == "quarantine_replay"
    # row 2 passes now; rows 4 and 5 still fail the kind check, and stay held (the replay is partial)
    assert (replay["status"], replay["rows_loaded"], replay["rows_quarantined"]) == ("PARTIALLY_LOADED", 1, 2)
    with services.store.engine.connect() as conn:
        lineage = conn.execute(
            text(f"SELECT _ingestion_id, _source_row FROM \"curated_{DATASET}\" WHERE id = 'r2'")
        ).one()
    assert (str(lineage[0]), lineage[1]) == (replay["id"], 2)
    rows = {r["source_row"]: r for r in get_page(client)["items"]}
    assert rows[2]["status"] == "replayed" and rows[2]["replay_ingestion_id"] == replay["id"]
    assert rows[4]["status"] == rows[5]["status"] == "held"
    assert [f["expectation_type"] for f in rows[4]["failures"]] == ["expect_column_values_to_be_in_set"]
    assert rows[5]["failures"][0]["kwargs"]["max_value"] == 1000  # the failures under the new contract
    assert rows[4]["contract_version"] == rows[5]["contract_version"] != held["contract_version"]
    actions = audit_actions(client, str(held["id"]))
    assert "quarantine.replay_requested" in actions and "quarantine.replayed" in actions
    assert (
        client.get(f"/api/ingestions/{held['id']}", headers=AUTH).get_json()["status"] == "PARTIALLY_LOADED"
    )


def test_replay_of_nothing_held_registers_nothing(client: FlaskClient, held: dict[str, Any]) -> None:
    response = client.post("/api/quarantine/replay", json={"dataset": "nosuch"}, headers=AUTH)
    assert response.status_code == 202
    assert response.get_json() == {"rows": 0, "remaining": 0, "ingestions": []}

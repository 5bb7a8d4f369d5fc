"""The read API: paging, filters, validation, detail with artifacts, datasets, schemas, audit events."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from tests.integration.api_support import AUTH, edge_csv, upload


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


@pytest.fixture
def three_ingestions(client, tmp_path) -> list[dict]:
    return [upload(client, edge_csv(tmp_path, seed=s).read_bytes()).get_json() for s in (1, 2, 3)]


def test_list_pages_newest_first(client, three_ingestions) -> None:
    first = client.get("/api/ingestions?limit=2", headers=AUTH).get_json()
    second = client.get("/api/ingestions?limit=2&offset=2", headers=AUTH).get_json()
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == [i["id"] for i in reversed(three_ingestions)]


def test_list_filters_by_dataset_and_status(client, three_ingestions) -> None:
    assert client.get("/api/ingestions?dataset=parcels", headers=AUTH).get_json()["total"] == 0
    assert client.get("/api/ingestions?status=loaded", headers=AUTH).get_json()["total"] == 3
    both = client.get("/api/ingestions?status=RECEIVED,FAILED_QUALITY&status=LOADED", headers=AUTH).get_json()
    assert both["total"] == 3
    assert client.get("/api/ingestions?status=RECEIVED", headers=AUTH).get_json()["total"] == 0


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "offset=-1", "status=DONE"])
def test_list_validates_its_parameters(client, query) -> None:
    response = client.get(f"/api/ingestions?{query}", headers=AUTH)
    assert response.status_code == 400
    if query.startswith("status"):
        assert "LOADED" in response.get_json()["error"]["details"]["valid"]


def test_detail_carries_quality_drift_and_lineage(client, three_ingestions) -> None:
    body = client.get(f"/api/ingestions/{three_ingestions[0]['id']}", headers=AUTH).get_json()
    assert body["id"] == three_ingestions[0]["id"]
    assert set(body) >= {"quality", "drift", "lineage", "artifacts"}
    assert body["lineage"] is not None


def test_bad_and_unknown_ids(client) -> None:
    assert client.get("/api/ingestions/not-a-uuid", headers=AUTH).status_code == 400
    missing = client.get("/api/ingestions/6f1c1d3e-0000-4000-8000-000000000000", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_datasets_include_contract_only_datasets(client, three_ingestions) -> None:
    items = {i["name"]: i for i in client.get("/api/datasets", headers=AUTH).get_json()["items"]}
    assert items["edge_telemetry"]["has_contract"] is True
    assert "parcels" in items


def test_schemas_of_a_dataset(client, three_ingestions) -> None:
    response = client.get("/api/datasets/edge_telemetry/schemas", headers=AUTH)
    assert response.status_code == 200 and response.get_json()["dataset"] == "edge_telemetry"
    assert client.get("/api/datasets/nope/schemas", headers=AUTH).status_code == 404
    assert client.get("/api/datasets/Bad-Name!/schemas", headers=AUTH).status_code == 400


def test_audit_events_filter_by_entity(client, three_ingestions) -> None:
    entity = three_ingestions[0]["id"]
    body = client.get(f"/api/audit_events?entity_id={entity}&limit=50", headers=AUTH).get_json()
    assert body["total"] >= 1 and {e["entity_id"] for e in body["items"]} == {entity}
    registered = client.get("/api/audit_events?action=ingestion.registered", headers=AUTH).get_json()
    assert registered["total"] == 3
    assert client.get("/api/audit_events?limit=0", headers=AUTH).status_code == 400

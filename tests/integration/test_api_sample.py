"""The curated sample API on real Postgres: paged rows with lineage columns, per dataset or ingestion."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from tests.integration.api_support import AUTH, edge_csv, upload


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def load(client: FlaskClient, tmp_path: Path, *, rows: int, seed: int) -> str:
    response = upload(client, edge_csv(tmp_path, rows=rows, seed=seed).read_bytes(), filename=f"{seed}.csv")
    assert response.status_code == 202, response.get_json()
    ingestion_id: str = response.get_json()["id"]
    assert client.get(f"/api/ingestions/{ingestion_id}", headers=AUTH).get_json()["status"] == "LOADED"
    return ingestion_id


def sample(client: FlaskClient, dataset: str = "edge_telemetry", **query: object):  # type: ignore[no-untyped-def]
    return client.get(f"/api/datasets/{dataset}/sample", query_string=query, headers=AUTH)


def test_sample_pages_the_curated_rows_with_lineage_columns(client: FlaskClient, tmp_path: Path) -> None:
    first = load(client, tmp_path, rows=4, seed=1)
    second = load(client, tmp_path, rows=3, seed=2)
    body = sample(client, limit=5).get_json()
    assert body["table"] == "curated_edge_telemetry" and body["total"] == 7 and len(body["items"]) == 5
    names = [c["name"] for c in body["columns"]]
    lineage = [c["name"] for c in body["columns"] if c["lineage"]]
    assert {"_ingestion_id", "_source_row", "_loaded_at"} <= set(lineage)
    assert names[-len(lineage) :] == lineage and "device_id" in names  # data columns first
    assert [r["_ingestion_id"] for r in body["items"][:3]] == [second] * 3  # newest load first
    rest = sample(client, limit=5, offset=5).get_json()
    assert len(rest["items"]) == 2 and {r["_ingestion_id"] for r in rest["items"]} == {first}


def test_sample_of_one_ingestion_reads_its_rows_in_file_order(client: FlaskClient, tmp_path: Path) -> None:
    first = load(client, tmp_path, rows=4, seed=1)
    load(client, tmp_path, rows=3, seed=2)
    body = sample(client, ingestion_id=first, limit=3).get_json()
    assert body["total"] == 4
    assert {r["_ingestion_id"] for r in body["items"]} == {first}
    rows = [r["_source_row"] for r in body["items"]]
    assert rows == sorted(rows) and len(rows) == 3


def test_sample_before_the_first_load_is_empty(client: FlaskClient) -> None:
    body = sample(client, "parcels").get_json()
    assert body == {
        "dataset": "parcels",
        "table": "curated_parcels",
        "columns": [],
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }


def test_sample_of_an_unknown_dataset_is_404(client: FlaskClient) -> None:
    response = sample(client, "no_such_dataset")
    assert response.status_code == 404
    assert "no_such_dataset" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"ingestion_id": "nope"}])
def test_sample_refuses_a_bad_page(client: FlaskClient, query: dict[str, object]) -> None:
    response = sample(client, **query)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"

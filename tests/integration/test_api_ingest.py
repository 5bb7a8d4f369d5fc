"""Upload, from_path, replay and demo seeding through the Flask test client, on real Postgres."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.api.app import create_app
from tests.integration.api_support import AUTH, TASK_AUTH, edge_csv, upload


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def count_ingestions(services) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestions)).scalar_one())


def test_upload_of_a_valid_csv_ends_loaded(client, tmp_path) -> None:
    response = upload(client, edge_csv(tmp_path).read_bytes(), filename="edge.csv")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "LOADED", body.get("error")
    assert body["rows_loaded"] == 5
    assert body["deduplicated"] is False
    assert body["created_at"].endswith("Z")
    detail = client.get(f"/api/ingestions/{body['id']}", headers=AUTH).get_json()
    assert detail["quality"] is not None and detail["lineage"] is not None


def test_same_bytes_twice_make_one_ingestion(client, services, tmp_path) -> None:
    data = edge_csv(tmp_path).read_bytes()
    first = upload(client, data, filename="a.csv")
    second = upload(client, data, filename="b.csv")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.get_json()["deduplicated"] is True
    assert second.get_json()["id"] == first.get_json()["id"]
    assert count_ingestions(services) == 1


def test_sheet_for_a_file_that_is_not_a_workbook_is_refused_before_landing(
    services, client, tmp_path
) -> None:
    response = upload(client, edge_csv(tmp_path, seed=11).read_bytes(), sheet="Readings")
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert "'t.csv'" in error["message"] and "not a workbook" in error["message"]
    assert "leave it out" in error["hint"] and error["details"]["parameter"] == "sheet"
    assert count_ingestions(services) == 0
    assert not [p for p in services.settings.raw_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize("sheet", ["[1]", "a/b", "what?", "  "])
def test_sheet_name_excel_cannot_have_is_refused(services, client, tmp_path, sheet: str) -> None:
    response = upload(client, b"PK", filename="book.xlsx", sheet=sheet)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["details"]["parameter"] == "sheet"
    assert count_ingestions(services) == 0


def test_content_length_over_the_limit_is_refused_up_front(services) -> None:
    services.settings = services.settings.with_overrides(upload_max_bytes=100)
    response = upload(create_app(services).test_client(), b"x" * 101)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert count_ingestions(services) == 0


def test_chunked_body_over_the_limit_is_refused_while_streaming(services) -> None:
    services.settings = services.settings.with_overrides(upload_max_bytes=1000)
    client = create_app(services).test_client()
    response = client.post(
        "/api/ingest/upload",
        query_string={"dataset": "edge_telemetry", "filename": "big.csv"},
        input_stream=io.BytesIO(b"y" * 5000),
        headers={**AUTH, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert count_ingestions(services) == 0
    assert not list(services.settings.raw_dir.rglob("*.csv"))


def test_unknown_extension_is_415(client) -> None:
    response = upload(client, b"a,b\n1,2\n", filename="data.exe")
    assert response.status_code == 415
    assert ".csv" in response.get_json()["error"]["hint"]


@pytest.mark.parametrize("dataset", ["../x", "Robert'); DROP TABLE ingestions;--", "ünïcode", "a" * 64, ""])
def test_hostile_dataset_names_are_400(client, services, dataset) -> None:
    response = upload(client, b"a,b\n1,2\n", dataset=dataset)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert count_ingestions(services) == 0


@pytest.mark.parametrize(
    "filename, stored",
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("evil\x00name.csv", "evilname.csv"),
        ("line\nbreak.csv", "linebreak.csv"),
        ("C:\\Users\\me\\données.csv", "données.csv"),
    ],
)
def test_hostile_file_names_are_stored_safely(client, services, tmp_path, filename, stored) -> None:
    response = upload(client, edge_csv(tmp_path, seed=3).read_bytes(), filename=filename)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["filename"] == stored
    assert body["raw_key"] == f"edge_telemetry/{body['sha256']}.csv"
    raw_root = services.settings.raw_dir.resolve()
    assert all(p.resolve().is_relative_to(raw_root) for p in raw_root.rglob("*"))
    assert not (services.settings.data_dir.parent / "etc").exists()


def test_replay_makes_a_new_ingestion_over_the_same_raw_key(client, tmp_path) -> None:
    original = upload(client, edge_csv(tmp_path).read_bytes()).get_json()
    response = client.post(f"/api/ingestions/{original['id']}/replay", headers=AUTH)
    assert response.status_code == 202
    replayed = response.get_json()
    assert replayed["id"] != original["id"]
    assert replayed["raw_key"] == original["raw_key"]
    assert replayed["replay_of"] == original["id"]
    assert replayed["source"] == "replay"


def test_replay_of_an_unknown_ingestion_is_404(client) -> None:
    response = client.post("/api/ingestions/6f1c1d3e-0000-4000-8000-000000000000/replay", headers=AUTH)
    assert response.status_code == 404


def from_path(client: FlaskClient, path: str):
    return client.post("/api/ingest/from_path", json={"path": path}, headers=TASK_AUTH)


def place(settings, relative: str, data: bytes) -> Path:
    path = settings.incoming_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_from_path_registers_and_archives(client, services, tmp_path) -> None:
    source = place(services.settings, "edge_telemetry/readings.csv", edge_csv(tmp_path).read_bytes())
    response = from_path(client, "edge_telemetry/readings.csv")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["dataset"] == "edge_telemetry" and body["source"] == "from_path"
    assert not source.exists()
    assert (services.settings.archive_dir / body["archived_to"]).is_file()


def test_from_path_takes_the_dataset_from_a_double_underscore_name(client, services, tmp_path) -> None:
    place(services.settings, "edge_telemetry__march.csv", edge_csv(tmp_path, seed=5).read_bytes())
    response = from_path(client, "edge_telemetry__march.csv")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["dataset"] == "edge_telemetry"


def test_archiving_never_overwrites(client, services, tmp_path) -> None:
    archived = []
    for seed in (1, 2):
        place(services.settings, "edge_telemetry/same.csv", edge_csv(tmp_path, seed=seed).read_bytes())
        response = from_path(client, "edge_telemetry/same.csv")
        archived.append(response.get_json()["archived_to"])
    assert archived[0].endswith("/same.csv") and archived[1].endswith("/same-1.csv")


@pytest.mark.parametrize("path", ["../outside.csv", "/etc/passwd", "edge_telemetry/../../x.csv", "", "."])
def test_from_path_refuses_paths_outside_incoming(client, services, path) -> None:
    outside = services.settings.data_dir / "outside.csv"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_bytes(b"a,b\n1,2\n")
    response = from_path(client, path)
    assert response.status_code == 400, response.get_json()
    assert outside.exists()
    assert count_ingestions(services) == 0


def test_from_path_refuses_a_symlink_out_of_incoming(client, services) -> None:
    secret = services.settings.data_dir / "secret.csv"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"a,b\n1,2\n")
    link = services.settings.incoming_dir / "edge_telemetry" / "link.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    response = from_path(client, "edge_telemetry/link.csv")
    assert response.status_code == 400


def test_from_path_without_a_dataset_rule_is_400(client, services) -> None:
    place(services.settings, "loose.csv", b"a\n1\n")
    response = from_path(client, "loose.csv")
    assert response.status_code == 400
    assert "<dataset>__" in response.get_json()["error"]["hint"]


def test_demo_seed_registers_disjoint_files(client) -> None:
    response = client.post("/api/demo/seed/edge_telemetry?limit=30&per_ingestion_max=10", headers=AUTH)
    assert response.status_code == 202, response.get_json()
    items = response.get_json()["items"]
    assert len(items) == 3 and {i["source"] for i in items} == {"demo"}
    listed = client.get("/api/ingestions?dataset=edge_telemetry", headers=AUTH).get_json()
    assert {i["status"] for i in listed["items"]} == {"LOADED"}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=abc", "limit=1000000", "per_ingestion_max=0", "limit=100000&per_ingestion_max=1"],
)
def test_demo_seed_validates_its_parameters(client, query) -> None:
    response = client.post(f"/api/demo/seed/edge_telemetry?{query}", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["hint"]


def test_demo_seed_of_an_unknown_dataset_lists_the_valid_ones(client) -> None:
    response = client.post("/api/demo/seed/nope", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["valid"] == ["parcels", "edge_telemetry"]


def test_demo_seed_is_404_outside_local_mode(services) -> None:
    services.settings = services.settings.with_overrides(mode="cloud")
    response = create_app(services).test_client().post("/api/demo/seed/edge_telemetry", headers=AUTH)
    assert response.status_code == 404

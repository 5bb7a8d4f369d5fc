"""The contracts API on the real app and Postgres: read, diff, validate, save, and what loads after."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from eventpulse.settings import ApiToken
from tests.integration.api_support import edge_csv, upload

ADMIN = {"Authorization": "Bearer contracts-admin"}
VIEWER = {"Authorization": "Bearer contracts-viewer"}
OPERATOR = {"Authorization": "Bearer contracts-operator"}


def _token(role: str) -> ApiToken:
    secret = f"contracts-{role}"
    return ApiToken(name=f"{role}-1", role=role, sha256=hashlib.sha256(secret.encode()).hexdigest())  # type: ignore[arg-type]


@pytest.fixture
def client(services) -> FlaskClient:  # type: ignore[no-untyped-def]
    tokens = tuple(_token(role) for role in ("viewer", "operator", "admin"))
    services.settings = services.settings.with_overrides(api_tokens=tokens)
    return create_app(services).test_client()


def edge_suite(contracts_dir: Path) -> dict[str, Any]:
    suite: dict[str, Any] = json.loads((contracts_dir / "edge_telemetry.json").read_text())
    return suite


def stricter(suite: dict[str, Any], min_rows: int = 1000) -> dict[str, Any]:
    """The suite with a critical row count a 5-row file fails."""
    out = copy.deepcopy(suite)
    for item in out["expectations"]:
        if item["type"] == "expect_table_row_count_to_be_between":
            item["kwargs"]["min_value"] = min_rows
    return out


def current(client: FlaskClient, dataset: str = "edge_telemetry") -> dict[str, Any]:
    response = client.get(f"/api/contracts/{dataset}", headers=VIEWER)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def put(client: FlaskClient, suite: Any, base: str | None, dataset: str = "edge_telemetry", **extra: Any):  # type: ignore[no-untyped-def]
    payload = {"suite": suite, **({"base_version": base} if base else {}), **extra}
    return client.put(f"/api/contracts/{dataset}", json=payload, headers=ADMIN)


def test_list_shows_every_contract_of_the_folder_adopted_from_the_file(client) -> None:
    body = client.get("/api/contracts", headers=VIEWER).get_json()
    by_name = {i["dataset"]: i for i in body["items"]}
    assert {"edge_telemetry", "parcels"} <= set(by_name)
    assert by_name["parcels"]["source"] == "file" and by_name["parcels"]["adopted_by"] == "contracts-dir"
    assert len(by_name["parcels"]["version"]) == 64


def test_read_gives_the_suite_and_its_history(client, contracts_dir) -> None:
    body = current(client)
    assert body["suite"] == edge_suite(contracts_dir)
    assert [h["source"] for h in body["history"]] == ["file"]
    version = client.get(f"/api/contracts/edge_telemetry/versions/{body['version']}", headers=VIEWER)
    assert version.status_code == 200 and version.get_json()["suite"] == body["suite"]
    missing = client.get("/api/contracts/edge_telemetry/versions/" + "a" * 64, headers=VIEWER)
    assert (
        missing.status_code == 404
        and "GET /api/contracts/edge_telemetry" in missing.get_json()["error"]["hint"]
    )
    unknown = client.get("/api/contracts/nosuch", headers=VIEWER)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"


def test_validate_reports_the_changes_without_saving(client, contracts_dir) -> None:
    before = current(client)["version"]
    response = client.post(
        "/api/contracts/edge_telemetry/validate",
        json={"suite": stricter(edge_suite(contracts_dir))},
        headers=VIEWER,
    )
    body = response.get_json()
    assert response.status_code == 200 and body["valid"] is True
    assert body["current_version"] == before and body["version"] != before
    assert [(c["kind"], c["expectation_type"]) for c in body["changes"]] == [
        ("expectation_changed", "expect_table_row_count_to_be_between")
    ]
    assert current(client)["version"] == before  # nothing saved


def test_validate_points_at_the_offending_expectation(client, contracts_dir) -> None:
    suite = edge_suite(contracts_dir)
    suite["expectations"][4]["kwargs"]["column"] = "devise_id"
    body = client.post(
        "/api/contracts/edge_telemetry/validate", json={"suite": suite}, headers=VIEWER
    ).get_json()
    assert body["valid"] is False and body["version"] is None
    assert body["error"]["details"]["key"] == "expectations[4]"
    assert "devise_id" in body["error"]["message"] and "declare it under columns" in body["error"]["hint"]


def test_a_save_becomes_the_contract_files_are_checked_against(client, contracts_dir, tmp_path) -> None:
    base = current(client)["version"]
    response = put(client, stricter(edge_suite(contracts_dir)), base, note="fleet files are big")
    saved = response.get_json()
    assert response.status_code == 200, saved
    assert saved["changed"] is True and saved["previous_version"] == base
    assert [c["kind"] for c in saved["changes"]] == ["expectation_changed"]
    detail = current(client)
    assert detail["version"] == saved["version"] and detail["source"] == "api"
    assert detail["adopted_by"] == "token:admin-1"
    assert detail["history"][0]["note"] == "fleet files are big"
    audit = client.get("/api/audit_events", query_string={"action": "contract.adopted"}, headers=VIEWER)
    newest = audit.get_json()["items"][0]
    assert newest["actor"] == "token:admin-1" and newest["details"]["previous_version"] == base
    # The next file is validated against the saved contract (the folder's file did not change).
    ingestion = upload(client, edge_csv(tmp_path).read_bytes(), headers=OPERATOR).get_json()
    assert ingestion["status"] == "FAILED_QUALITY", ingestion.get("error")
    assert ingestion["contract_version"] == saved["version"]
    diff = client.get("/api/contracts/edge_telemetry/diff", headers=VIEWER).get_json()
    assert diff["from"] == base and diff["to"] == saved["version"]
    assert diff["changes"][0]["before"]["kwargs"]["min_value"] == 1
    assert diff["changes"][0]["after"]["kwargs"]["min_value"] == 1000


def test_saving_the_current_suite_again_changes_nothing(client, contracts_dir) -> None:
    base = current(client)["version"]
    response = put(client, edge_suite(contracts_dir), base)
    assert response.status_code == 200
    assert response.get_json()["changed"] is False and response.get_json()["version"] == base
    assert len(current(client)["history"]) == 1


def test_a_stale_or_missing_base_version_is_409_and_nothing_is_saved(client, contracts_dir) -> None:
    base = current(client)["version"]
    assert put(client, stricter(edge_suite(contracts_dir)), base).status_code == 200
    stale = put(client, stricter(edge_suite(contracts_dir), 50), base)
    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["details"]["current_version"] == current(client)["version"] != base
    assert "GET /api/contracts/edge_telemetry" in error["hint"]
    missing = put(client, stricter(edge_suite(contracts_dir), 50), None)
    assert missing.status_code == 409 and "base_version" in missing.get_json()["error"]["hint"]
    assert len(current(client)["history"]) == 2


def test_an_invalid_save_is_422_naming_the_key(client, contracts_dir) -> None:
    base = current(client)["version"]
    suite = edge_suite(contracts_dir)
    suite["meta"]["eventpulse"]["primary_keys"] = ["event_id"]
    response = put(client, suite, base)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["key"] == "meta.eventpulse.primary_keys"
    assert current(client)["version"] == base


def test_an_edit_of_the_file_wins_over_an_older_save(client, contracts_dir) -> None:
    base = current(client)["version"]
    put(client, stricter(edge_suite(contracts_dir)), base)
    edited = stricter(edge_suite(contracts_dir), 2)
    (contracts_dir / "edge_telemetry.json").write_text(json.dumps(edited, indent=4))
    detail = current(client)
    assert detail["source"] == "file" and detail["suite"] == edited
    assert [h["source"] for h in detail["history"]] == ["file", "api", "file"]


def test_a_broken_file_is_reported_and_blocks_saves_until_fixed(client, contracts_dir) -> None:
    base = current(client)["version"]
    (contracts_dir / "edge_telemetry.json").write_text('{"name": "edge_telemetry", "meta": {}}')
    listed = {i["dataset"]: i for i in client.get("/api/contracts", headers=VIEWER).get_json()["items"]}
    assert listed["edge_telemetry"]["version"] is None
    assert listed["edge_telemetry"]["error"]["details"]["key"] == "meta.eventpulse"
    assert client.get("/api/contracts/edge_telemetry", headers=VIEWER).status_code == 422
    refused = put(client, stricter(_repo_suite()), base)
    assert refused.status_code == 409
    assert "fix or remove contracts/edge_telemetry.json" in refused.get_json()["error"]["hint"]


def _repo_suite() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[2] / "contracts" / "edge_telemetry.json"
    suite: dict[str, Any] = json.loads(path.read_text())
    return suite


def test_a_new_dataset_can_be_created_through_the_api_and_receive_files(
    client, contracts_dir, tmp_path
) -> None:
    suite = _repo_suite()
    suite["name"] = "field_probe"
    response = put(client, suite, None, dataset="field_probe")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["previous_version"] is None
    assert not (contracts_dir / "field_probe.json").exists()
    ingestion = upload(client, edge_csv(tmp_path).read_bytes(), dataset="field_probe", headers=OPERATOR)
    assert ingestion.status_code == 202, ingestion.get_json()
    assert ingestion.get_json()["status"] == "LOADED", ingestion.get_json().get("error")
    names = [d["name"] for d in client.get("/api/datasets", headers=VIEWER).get_json()["items"]]
    assert "field_probe" in names
    again = put(client, suite, None, dataset="field_probe")
    assert again.status_code == 409  # now it has a contract: the editor must say which one it edited

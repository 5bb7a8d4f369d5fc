"""Contract dry-run on the real pipeline: what a candidate would do to received files, writing nothing."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from eventpulse.api.app import create_app
from eventpulse.settings import ApiToken
from eventpulse.states import Status
from tests.helpers import ingest
from tests.integration.api_support import edge_csv

OPERATOR = {"Authorization": "Bearer dry-operator"}
DATASET = "edge_telemetry"


@pytest.fixture
def client(services) -> FlaskClient:  # type: ignore[no-untyped-def]
    token = ApiToken(name="ops", role="operator", sha256=hashlib.sha256(b"dry-operator").hexdigest())
    services.settings = services.settings.with_overrides(api_tokens=(token,))
    return create_app(services).test_client()


def suite(contracts_dir: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((contracts_dir / f"{DATASET}.json").read_text())
    return body


def battery_at_least(body: dict[str, Any], minimum: float) -> dict[str, Any]:
    """The suite with the battery range made critical and raised to ``minimum`` volts."""
    out = copy.deepcopy(body)
    for item in out["expectations"]:
        if item["type"] == "expect_column_values_to_be_between" and item["kwargs"]["column"] == "battery_v":
            item["kwargs"].update(min_value=minimum, max_value=minimum * 2)
            item["meta"] = {}
    return out


def snapshot(services: Any) -> tuple[Any, ...]:
    """Everything a dry-run must not touch."""
    with services.store.engine.connect() as conn:
        return tuple(
            conn.execute(text(sql)).scalar_one()
            for sql in (
                "SELECT count(*) FROM ingestions",
                "SELECT max(updated_at) FROM ingestions",
                "SELECT count(*) FROM audit_events",
                "SELECT count(*) FROM ingestion_artifacts",
                "SELECT count(*) FROM curated_edge_telemetry",
                "SELECT count(*) FROM contract_adoptions",
                "SELECT count(*) FROM dataset_schemas",
            )
        )


def dry(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/contracts/{DATASET}/dry_run", json=body, headers=OPERATOR)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def loaded_files(services: Any, tmp_path: Path, seeds: range) -> list[dict[str, Any]]:
    rows = [ingest(services, edge_csv(tmp_path, rows=10, seed=s), DATASET) for s in seeds]
    assert all(r["status"] == Status.LOADED for r in rows), [r["error"] for r in rows]
    return rows


def test_a_stricter_contract_reports_what_would_fail_and_writes_nothing(
    client, services, tmp_path, contracts_dir
) -> None:
    files = loaded_files(services, tmp_path, range(1, 4))
    before = snapshot(services)
    report = dry(client, suite=battery_at_least(suite(contracts_dir), 100), last=5)
    assert snapshot(services) == before
    assert [i["ingestion_id"] for i in report["items"]] == [str(f["id"]) for f in reversed(files)]
    for item in report["items"]:
        assert item["actual"]["status"] == "LOADED" and item["would"]["status"] == "FAILED_QUALITY"
        assert {"kind": "status", "actual": "LOADED", "would": "FAILED_QUALITY"} in item["differences"]
        battery = next(
            e
            for e in item["would"]["expectations"]
            if e["expectation_type"] == "expect_column_values_to_be_between"
            and e["kwargs"]["column"] == "battery_v"
        )
        assert battery["success"] is False and battery["severity"] == "critical"
        assert battery["unexpected_count"] == 10, battery
        assert battery["failing_rows"] == list(range(1, 11))
        assert item["would"]["rows_loaded"] == 0
    summary = report["summary"]
    assert summary["would_status"] == {"FAILED_QUALITY": 3} and summary["files_changing_status"] == 3
    assert summary["rows_would_load"] == 0 and summary["rows_loaded_actually"] == 30
    assert summary["wrote_nothing"] is True


def test_the_current_contract_changes_nothing(client, services, tmp_path) -> None:
    loaded_files(services, tmp_path, range(1, 3))
    report = dry(client)
    assert all(i["would"]["status"] == "LOADED" and i["differences"] == [] for i in report["items"])
    assert report["summary"]["rows_would_load"] == 20 == report["summary"]["rows_loaded_actually"]


def test_a_looser_policy_would_load_a_file_that_failed_drift(
    client, services, tmp_path, contracts_dir
) -> None:
    loaded_files(services, tmp_path, range(1, 2))
    held = ingest(services, edge_csv(tmp_path, rows=10, seed=9, case="type_change"), DATASET)
    assert held["status"] == Status.QUARANTINED
    candidate = suite(contracts_dir)
    candidate["meta"]["eventpulse"]["drift_policy"]["type_changes"] = "evolve"
    report = dry(client, suite=candidate, ingestion_ids=[str(held["id"])])
    (item,) = report["items"]
    assert item["actual"]["status"] == "QUARANTINED" and item["would"]["status"] == "LOADED"
    assert item["would"]["drift"]["outcome"] == "accept" and item["would"]["rows_loaded"] == 10
    strict = suite(contracts_dir)
    strict["meta"]["eventpulse"]["drift_policy"]["type_changes"] = "fail"
    (rejected,) = dry(client, suite=strict, ingestion_ids=[str(held["id"])])["items"]
    assert rejected["would"]["status"] == "FAILED_DRIFT"
    assert any(c["column"] == "value" for c in rejected["would"]["drift"]["changes"]), rejected["would"]


def test_progress_streams_one_line_per_file_then_the_summary(client, services, tmp_path) -> None:
    loaded_files(services, tmp_path, range(1, 4))
    response = client.post(
        f"/api/contracts/{DATASET}/dry_run",
        json={"last": 2},
        headers={**OPERATOR, "Accept": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["type"] for line in lines] == ["file", "file", "summary"]
    assert [line["progress"] for line in lines[:2]] == [{"done": 1, "total": 2}, {"done": 2, "total": 2}]


def test_a_spent_time_budget_skips_the_remaining_files(client, services, tmp_path) -> None:
    loaded_files(services, tmp_path, range(1, 4))
    report = dry(client, last=3, max_seconds=0.001)
    skipped = [i for i in report["items"] if i["skipped"]]
    assert skipped and "time budget" in skipped[-1]["skipped"]
    assert report["summary"]["skipped"] == len(skipped) and report["summary"]["files"] == 3


def test_bad_requests_get_the_envelope(client, services, tmp_path, contracts_dir) -> None:
    broken = suite(contracts_dir)
    broken["expectations"][0]["kwargs"]["column"] = "nope"
    response = client.post(f"/api/contracts/{DATASET}/dry_run", json={"suite": broken}, headers=OPERATOR)
    assert response.status_code == 422 and response.get_json()["error"]["details"]["key"] == "expectations[0]"
    other = ingest(services, _parcels(tmp_path), "parcels")
    response = client.post(
        f"/api/contracts/{DATASET}/dry_run", json={"ingestion_ids": [str(other["id"])]}, headers=OPERATOR
    )
    assert (
        response.status_code == 404
        and "not an ingestion of dataset" in response.get_json()["error"]["message"]
    )
    response = client.post(f"/api/contracts/{DATASET}/dry_run", json={"last": 500}, headers=OPERATOR)
    assert response.status_code == 400 and response.get_json()["error"]["details"]["parameter"] == "last"


def _parcels(tmp_path: Path) -> Path:
    from eventpulse.demo.generator import write_case

    return write_case("parcels", "baseline", "csv", tmp_path / "parcels", rows=5)

"""Data products end to end: marts declared in contracts become views, follow loads, and are listed."""

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
from eventpulse.demo.generator import write_case
from eventpulse.settings import ApiToken
from eventpulse.states import Status
from tests.helpers import curated_columns, ingest
from tests.integration.api_support import edge_csv

ADMIN = {"Authorization": "Bearer marts-admin"}


@pytest.fixture
def client(services) -> FlaskClient:  # type: ignore[no-untyped-def]
    token = ApiToken(name="root", role="admin", sha256=hashlib.sha256(b"marts-admin").hexdigest())
    services.settings = services.settings.with_overrides(api_tokens=(token,))
    return create_app(services).test_client()


def mart(client: FlaskClient, name: str) -> dict[str, Any]:
    response = client.get(f"/api/marts/{name}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def query(services: Any, sql: str) -> list[tuple[Any, ...]]:
    with services.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def suite(contracts_dir: Path, dataset: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((contracts_dir / f"{dataset}.json").read_text())
    return body


def save(client: FlaskClient, dataset: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
    base = client.get(f"/api/contracts/{dataset}", headers=ADMIN).get_json()["version"]
    return client.put(f"/api/contracts/{dataset}", json={"suite": body, "base_version": base}, headers=ADMIN)


def test_a_shipped_mart_waits_for_its_table_then_answers_from_the_curated_rows(
    client, services, tmp_path
) -> None:
    before = mart(client, "parcel_sales_by_month")
    assert before["status"] == "pending" and 'relation "curated_parcels" does not exist' in before["error"]
    assert before["freshness"]["status"] == "unknown" and before["rows"] is None

    path = write_case("parcels", "baseline", "csv", tmp_path, rows=300, seed=3)
    assert ingest(services, path, "parcels")["status"] == Status.LOADED

    after = mart(client, "parcel_sales_by_month")
    assert after["status"] == "ok" and after["error"] is None
    assert [c["name"] for c in after["columns"]] == ["month", "sales", "total_price", "avg_price"]
    assert after["upstream_datasets"] == ["parcels"] and after["reads"] == ["curated_parcels"]
    assert after["freshness"]["status"] == "fresh" and after["freshness"]["warn_after_seconds"] == 7 * 86400
    expected = query(
        services,
        "SELECT date_trunc('month', sale_date)::date, count(*) FROM curated_parcels "
        "WHERE sale_date IS NOT NULL AND sale_price IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    assert query(services, "SELECT month, sales FROM mart_parcel_sales_by_month ORDER BY month") == expected
    assert after["rows"] == len(expected) > 0


def test_widening_a_column_a_mart_reads_keeps_the_mart(client, services, tmp_path, contracts_dir) -> None:
    from eventpulse.pipeline.review import approve_schema

    assert ingest(services, edge_csv(tmp_path, rows=20, seed=7), "edge_telemetry")["status"] == Status.LOADED
    assert mart(client, "latest_reading")["status"] == "ok"
    held = ingest(services, edge_csv(tmp_path, rows=20, seed=8, case="type_change"), "edge_telemetry")
    assert held["status"] == Status.QUARANTINED
    # Approval widens `value` (read by the mart) from double precision to text: ALTER ... TYPE.
    row = approve_schema(services, held["id"], actor="alice")
    assert row["status"] == Status.LOADED, row["error"]
    assert curated_columns(services, "edge_telemetry")["value"] == "text"
    latest = mart(client, "latest_reading")
    assert latest["status"] == "ok"
    assert {c["name"]: c["type"] for c in latest["columns"]}["value"] == "text"
    devices = query(
        services,
        "SELECT count(DISTINCT (device_id, sensor)) FROM curated_edge_telemetry WHERE event_type = 'reading'",
    )
    assert query(services, "SELECT count(*) FROM mart_latest_reading") == devices


def test_a_save_whose_mart_does_not_compile_is_refused_with_postgres_words(
    client, services, tmp_path, contracts_dir
) -> None:
    ingest(services, edge_csv(tmp_path, rows=5), "edge_telemetry")
    before = client.get("/api/contracts/edge_telemetry", headers=ADMIN).get_json()["version"]
    broken = suite(contracts_dir, "edge_telemetry")
    broken["meta"]["eventpulse"]["marts"][0]["sql"] = "SELECT no_such_column FROM curated_edge_telemetry"
    response = save(client, "edge_telemetry", broken)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "mart_refused" and 'column "no_such_column" does not exist' in error["message"]
    assert error["details"]["key"] == "meta.eventpulse.marts[0].sql"
    assert client.get("/api/contracts/edge_telemetry", headers=ADMIN).get_json()["version"] == before
    assert mart(client, "latest_reading")["status"] == "ok"


def test_a_second_statement_never_reaches_the_database(client, services, contracts_dir) -> None:
    hostile = suite(contracts_dir, "edge_telemetry")
    hostile["meta"]["eventpulse"]["marts"][0]["sql"] = "SELECT 1 AS x; DROP TABLE ingestions"
    response = save(client, "edge_telemetry", hostile)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["key"] == "meta.eventpulse.marts[0].sql"
    assert query(services, "SELECT to_regclass('ingestions') IS NOT NULL") == [(True,)]


def test_marts_are_replaced_added_and_dropped_with_the_contract(
    client, services, tmp_path, contracts_dir
) -> None:
    ingest(services, edge_csv(tmp_path, rows=12), "edge_telemetry")
    changed = suite(contracts_dir, "edge_telemetry")
    marts = changed["meta"]["eventpulse"]["marts"]
    marts[0]["sql"] = "SELECT device_id, count(*) AS events FROM curated_edge_telemetry GROUP BY 1"
    marts.append(
        {"name": "devices", "sql": "SELECT DISTINCT device_id FROM mart_latest_reading", "owner": "ops"}
    )
    response = save(client, "edge_telemetry", changed)
    assert response.status_code == 200, response.get_json()
    assert [c["name"] for c in mart(client, "latest_reading")["columns"]] == ["device_id", "events"]
    assert mart(client, "devices")["reads"] == ["mart_latest_reading"]
    assert query(services, "SELECT sum(events) FROM mart_latest_reading") == [(12,)]

    without = copy.deepcopy(changed)
    del without["meta"]["eventpulse"]["marts"]
    assert save(client, "edge_telemetry", without).status_code == 200
    names = [m["name"] for m in client.get("/api/marts", headers=ADMIN).get_json()["items"]]
    assert "latest_reading" not in names and "devices" not in names and "parcel_sales_by_month" in names
    assert query(services, "SELECT to_regclass('mart_latest_reading')") == [(None,)]
    assert client.get("/api/marts/latest_reading", headers=ADMIN).status_code == 404


def test_a_mart_name_belongs_to_one_dataset(client, contracts_dir) -> None:
    client.get("/api/marts", headers=ADMIN)  # adopts both shipped contracts and their marts
    thief = suite(contracts_dir, "parcels")
    thief["meta"]["eventpulse"]["marts"][0]["name"] = "latest_reading"
    response = save(client, "parcels", thief)
    assert response.status_code == 422
    assert "already belongs to dataset 'edge_telemetry'" in response.get_json()["error"]["message"]


def test_a_broken_mart_in_a_contract_file_is_shown_not_fatal(
    client, services, tmp_path, contracts_dir
) -> None:
    broken = suite(contracts_dir, "edge_telemetry")
    broken["meta"]["eventpulse"]["marts"][0]["sql"] = "SELECT 1/0 AS x FROM pg_class WHERE nonsense"
    (contracts_dir / "edge_telemetry.json").write_text(json.dumps(broken))
    # Files still load: a file cannot be refused for its mart; the catalog shows why it is missing.
    assert ingest(services, edge_csv(tmp_path, rows=5), "edge_telemetry")["status"] == Status.LOADED
    shown = mart(client, "latest_reading")
    assert shown["status"] == "error" and 'column "nonsense" does not exist' in shown["error"]

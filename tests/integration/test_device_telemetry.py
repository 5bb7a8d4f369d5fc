"""``GET /api/devices/<id>/telemetry``: one device's loaded rows, newest first, paged, filtered."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from tests.integration.api_support import AUTH, edge_csv, upload


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def test_telemetry_is_one_devices_rows_newest_first_and_paged(client, tmp_path) -> None:
    body = edge_csv(tmp_path, rows=40, seed=11).read_bytes()
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert upload(client, body).get_json()["status"] == "LOADED"
    device, count = Counter(r["device_id"] for r in rows).most_common(1)[0]
    assert count >= 2, "the generated file has several rows of one device"
    expected = sorted(
        (r for r in rows if r["device_id"] == device), key=lambda r: (r["ts"], r["event_id"]), reverse=True
    )

    first = client.get(f"/api/devices/{device}/telemetry?limit=1", headers=AUTH).get_json()
    rest = client.get(f"/api/devices/{device}/telemetry?limit=100&offset=1", headers=AUTH).get_json()
    assert (first["total"], first["limit"], first["offset"]) == (count, 1, 0)
    got = first["items"] + rest["items"]
    assert [r["event_id"] for r in got] == [r["event_id"] for r in expected]
    assert {r["device_id"] for r in got} == {device}
    assert all(r["_ingestion_id"] for r in got), "lineage columns come along"

    sensor = next(r["sensor"] for r in expected if r["sensor"])
    only = client.get(f"/api/devices/{device}/telemetry?sensor={sensor}", headers=AUTH).get_json()
    assert only["total"] == sum(1 for r in expected if r["sensor"] == sensor)
    assert {r["sensor"] for r in only["items"]} == {sensor}
    nobody = client.get("/api/devices/pi-nobody/telemetry", headers=AUTH).get_json()
    assert nobody["total"] == 0 and nobody["items"] == []


def test_telemetry_before_any_load_is_an_empty_page(client) -> None:
    response = client.get("/api/devices/pi-001/telemetry", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["items"] == [] and response.get_json()["total"] == 0


@pytest.mark.parametrize("device", ["-bad", "a%20b", "x" * 64])
def test_telemetry_refuses_what_is_not_a_device_id(client, device) -> None:
    response = client.get(f"/api/devices/{device}/telemetry", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_telemetry_needs_a_token(client) -> None:
    assert client.get("/api/devices/pi-001/telemetry").status_code == 401

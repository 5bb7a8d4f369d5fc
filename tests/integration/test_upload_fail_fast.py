"""``POST /api/ingest/upload?fail_fast=true``: the header is checked before anything is landed."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.api.app import create_app
from eventpulse.states import Status
from tests.helpers import set_contract_meta
from tests.integration.api_support import AUTH, edge_csv, upload


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def count_ingestions(services) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestions)).scalar_one())


def landed_files(services) -> list[str]:
    return [p.name for p in services.settings.raw_dir.rglob("*") if p.is_file()]


def without_column(data: bytes, column: str) -> bytes:
    """The CSV with one column cut out of every line (the demo files quote nothing)."""
    lines = data.decode().splitlines()
    index = lines[0].split(",").index(column)
    kept = [",".join(f for i, f in enumerate(line.split(",")) if i != index) for line in lines]
    return ("\n".join(kept) + "\n").encode()


def test_a_header_missing_a_required_column_is_refused_with_422_and_nothing_is_landed(
    services, client, tmp_path
) -> None:
    data = without_column(edge_csv(tmp_path).read_bytes(), "device_id")
    response = upload(client, data, fail_fast="true")
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "schema_drift"
    assert "column 'device_id' is missing" in error["message"]
    assert "removed_columns: warn, but the column is required" in error["message"]
    assert "drift_policy" in error["hint"]
    (change,) = error["details"]["header_check"]["changes"]
    assert (change["kind"], change["column"], change["mode"]) == ("column_removed", "device_id", "fail")
    assert count_ingestions(services) == 0 and landed_files(services) == []


def test_without_fail_fast_the_same_file_is_landed_and_fails_drift_as_before(
    services, client, tmp_path
) -> None:
    data = without_column(edge_csv(tmp_path).read_bytes(), "device_id")
    response = upload(client, data)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == Status.FAILED_DRIFT.value and "header_check" not in body
    assert count_ingestions(services) == 1 and len(landed_files(services)) == 1


def test_an_accepted_header_lands_the_exact_bytes_and_echoes_the_check(services, client, tmp_path) -> None:
    data = edge_csv(tmp_path, rows=200).read_bytes()
    response = upload(client, data, fail_fast="true")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == Status.LOADED.value and body["rows_loaded"] == 200
    assert body["header_check"]["outcome"] == "accept" and body["header_check"]["changes"] == []
    assert body["header_check"]["columns"][:2] == ["event_id", "device_id"]
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    with services.landing.local_path(body["raw_key"]) as path:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_chunked_accepted_upload_lands_byte_identical(services, client, tmp_path) -> None:
    data = edge_csv(tmp_path, rows=50, seed=3).read_bytes()
    response = client.post(
        "/api/ingest/upload",
        query_string={"dataset": "edge_telemetry", "filename": "c.csv", "fail_fast": "true"},
        input_stream=io.BytesIO(data),
        headers={**AUTH, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 202, response.get_json()
    with services.landing.local_path(response.get_json()["raw_key"]) as path:
        assert path.read_bytes() == data


def test_a_new_ndjson_key_under_freeze_is_refused_but_a_key_absent_from_the_first_record_is_not(
    services, client, contracts_dir
) -> None:
    set_contract_meta(contracts_dir, "edge_telemetry", drift_policy={"new_columns": "freeze"})
    record = {"event_id": "e1", "device_id": "d1", "event_type": "heartbeat", "ts": "2025-01-01T00:00:00"}
    frozen = upload(
        client, (json.dumps({**record, "owner": "x"}) + "\n").encode(), filename="t.ndjson", fail_fast="true"
    )
    assert frozen.status_code == 422, frozen.get_json()
    assert (
        "column 'owner' is new; the drift policy says new_columns: freeze"
        in frozen.get_json()["error"]["message"]
    )
    partial = upload(client, (json.dumps(record) + "\n").encode(), filename="t.ndjson", fail_fast="true")
    assert partial.status_code == 202, partial.get_json()
    assert partial.get_json()["header_check"]["outcome"] == "accept"
    assert count_ingestions(services) == 1


@pytest.mark.parametrize(
    ("filename", "fmt"), [("t.xlsx", "xlsx"), ("t.parquet", "parquet"), ("t.json", "json")]
)
def test_fail_fast_on_a_format_without_a_header_line_is_a_400_that_says_so(
    services, client, filename: str, fmt: str
) -> None:
    response = upload(client, b"PK\x03\x04 not read", filename=filename, fail_fast="true")
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert f"cannot check a {fmt} file" in error["message"] and "CSV and NDJSON" in error["hint"]
    assert error["details"]["parameter"] == "fail_fast"
    assert count_ingestions(services) == 0 and landed_files(services) == []


def test_a_header_longer_than_the_bound_and_an_empty_body_are_refused_clearly(services, client) -> None:
    endless = upload(client, b"a" * (65 * 1024) + b"\n1\n", fail_fast="true")
    assert endless.status_code == 400, endless.get_json()
    assert "no complete header line in the first 64 KiB" in endless.get_json()["error"]["message"]
    empty = upload(client, b"", fail_fast="true")
    assert empty.status_code == 422, empty.get_json()
    assert empty.get_json()["error"]["code"] == "unreadable_header"
    assert "is empty" in empty.get_json()["error"]["message"]
    assert count_ingestions(services) == 0 and landed_files(services) == []

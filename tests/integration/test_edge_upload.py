"""``POST /api/edge/ingest/upload`` on the real pipeline and Postgres: a device's batch, bound to it."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.states import Status
from tests.integration.test_edge_api import ENROLL_TOKEN, enroll

UPLOAD = "/api/edge/ingest/upload"


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="test-pepper",
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


def device_headers(client, device_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    token = enroll(client, device_id).get_json()["device_token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}


def batch(*device_ids: str) -> bytes:
    lines = ["event_id,device_id,event_type,sensor,value,units,ts"]
    for i, device_id in enumerate(device_ids):
        lines.append(f"{uuid.uuid4()},{device_id},reading,temp_c,{20 + i},C,2026-01-0{i % 9 + 1}T10:00:00")
    return ("\n".join(lines) + "\n").encode()


def upload(client, headers, data: bytes, *, dataset="edge_telemetry", filename="b.csv"):  # type: ignore[no-untyped-def]
    return client.post(
        UPLOAD, query_string={"dataset": dataset, "filename": filename}, headers=headers, data=data
    )


def curated_devices(services: Any) -> list[str]:
    with services.store.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('curated_edge_telemetry')")).scalar() is None:
            return []
        sql = "SELECT device_id FROM curated_edge_telemetry ORDER BY device_id"
        return [r[0] for r in conn.execute(text(sql))]


def test_an_accepted_batch_is_processed_into_the_curated_table_as_the_device(client, services) -> None:
    headers = device_headers(client, "pi-up-1")
    response = upload(client, headers, batch("pi-up-1", "", "pi-up-1"))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["deduplicated"] is False and body["source"] == "device:pi-up-1"
    with services.store.read() as tx:
        row = tx.ingestions.get(uuid.UUID(body["ingestion_id"]))
    assert row is not None and row["status"] == Status.LOADED and row["created_by"] == "device:pi-up-1"
    assert curated_devices(services) == ["pi-up-1"] * 3  # the empty device_id became the sender's


def test_the_same_bytes_again_answer_200_with_the_existing_ingestion(client) -> None:
    headers = device_headers(client, "pi-up-2")
    data = batch("pi-up-2")
    first = upload(client, headers, data)
    again = upload(client, headers, data, filename="again.csv")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["deduplicated"] is True
    assert again.get_json()["ingestion_id"] == first.get_json()["ingestion_id"]


def test_rows_naming_another_device_are_never_loaded(client, services) -> None:
    headers = device_headers(client, "pi-up-3")
    response = upload(client, headers, batch("pi-up-3", "pi-other"))
    assert response.status_code == 202, response.get_json()
    with services.store.read() as tx:
        row = tx.ingestions.get(uuid.UUID(response.get_json()["ingestion_id"]))
    # edge_telemetry fails the file on a foreign row (no quarantine on it): nothing of it is loaded
    assert row is not None and row["status"] == Status.FAILED_QUALITY
    assert row["error"]["details"]["foreign_device_ids"] == {"pi-other": 1}
    assert "pi-other" not in curated_devices(services)


def test_a_dataset_not_allowed_for_the_device_is_refused_with_403(client, services) -> None:
    headers = device_headers(client, "pi-up-4")
    refused = upload(client, headers, b"a,b\n1,2\n", dataset="sales")
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["code"] == "dataset_not_allowed"  # not "forbidden": the agent must not read it as revoked
    assert "sales" in error["message"] and "edge_telemetry" in error["hint"]
    # the device's own list replaces the fleet's
    services.devices.update("pi-up-4", at=datetime.now(UTC), datasets=("sales",))
    assert upload(client, headers, batch("pi-up-4")).status_code == 403
    with services.store.engine.connect() as conn:  # nothing was landed or registered
        assert conn.execute(text("SELECT count(*) FROM ingestions")).scalar() == 0


def test_a_file_that_is_not_csv_or_ndjson_is_415_naming_the_accepted_ones(client) -> None:
    headers = device_headers(client, "pi-up-5")
    response = upload(client, headers, b"PAR1", filename="b.parquet")
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["status"] == 415 and ".csv" in error["hint"] and ".ndjson" in error["hint"]


def test_missing_or_hostile_names_are_400_or_cleaned(client, services) -> None:
    headers = device_headers(client, "pi-up-6")
    missing = client.post(UPLOAD, query_string={"dataset": "edge_telemetry"}, headers=headers, data=b"x")
    assert missing.status_code == 400 and missing.get_json()["error"]["status"] == 400
    no_dataset = client.post(UPLOAD, query_string={"filename": "b.csv"}, headers=headers, data=b"x")
    assert no_dataset.status_code == 400
    assert upload(client, headers, b"x", filename="../..").status_code == 400
    hostile = upload(client, headers, batch("pi-up-6"), filename="../../etc/\x00b.csv")
    assert hostile.status_code == 202, hostile.get_json()
    assert hostile.get_json()["filename"] == "b.csv"


def test_an_upload_without_a_device_token_is_401(client) -> None:
    response = client.post(
        UPLOAD, query_string={"dataset": "edge_telemetry", "filename": "b.csv"}, data=batch("x")
    )
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_the_device_batch_is_streamed_not_read_whole(client, services) -> None:
    from tests.integration.test_openapi import CountingReader

    headers = device_headers(client, "pi-up-7")
    data = batch(*["pi-up-7"] * 30_000)  # about 2.6 MB: more than the landing's 1 MiB chunk
    reader = CountingReader(data)
    response = client.post(
        UPLOAD,
        query_string={"dataset": "edge_telemetry", "filename": "big.csv"},
        input_stream=reader,
        headers={**headers, "Content-Length": str(len(data))},
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["size_bytes"] == len(data)
    assert max(reader.reads) < len(data) and len([r for r in reader.reads if r]) > 1


def test_an_ndjson_batch_is_accepted_and_loaded(client, services) -> None:
    headers = device_headers(client, "pi-up-8")
    line = {"event_id": str(uuid.uuid4()), "device_id": "", "event_type": "reading", "sensor": "temp_c"}
    line.update(value=21.5, ts="2026-01-01T10:00:00")
    response = upload(client, headers, (json.dumps(line) + "\n").encode(), filename="b.ndjson")
    assert response.status_code == 202, response.get_json()
    assert curated_devices(services) == ["pi-up-8"]


def test_a_batch_over_the_upload_limit_is_413_and_not_landed(client, services) -> None:
    headers = device_headers(client, "pi-up-9")
    services.settings = services.settings.with_overrides(upload_max_bytes=100)
    client.application.config["EVENTPULSE_SETTINGS"] = services.settings
    response = upload(client, headers, batch(*["pi-up-9"] * 10))
    assert response.status_code == 413 and response.get_json()["error"]["details"]["limit_bytes"] == 100
    with services.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingestions")).scalar() == 0


def test_an_upload_reaches_the_queue_after_three_sessions_and_one_write_commit(client, services) -> None:
    """The upload path's round trips (docs/BENCHMARKS.md#edge-ingest): device, contract, registration.

    Counted from the pool's and the engine's events up to the moment the queue is handed the
    ingestion, on a warm server: the hand-over time is written in the registration's own
    transaction, and no session is spent on a second "is there a contract" read.
    """
    headers = device_headers(client, "pi-rt-001")
    # Warm: the contract file is adopted and last seen is written (at most every 10 s) once.
    assert upload(client, headers, batch("pi-rt-001")).status_code == 202
    seen: list[str] = []
    at_hand_over: list[list[str]] = []
    engine = services.store.engine
    listeners = [
        ("checkout", lambda *_: seen.append("checkout")),
        ("commit", lambda *_: seen.append("commit")),
        ("before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement.split()[0].upper())),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    real_enqueue = services.queue.enqueue

    def observed(ingestion_id: uuid.UUID) -> None:
        at_hand_over.append(list(seen))
        real_enqueue(ingestion_id)

    services.queue.enqueue = observed
    try:
        response = upload(client, headers, batch("pi-rt-001"))
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
        services.queue.enqueue = real_enqueue
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["enqueued_at"] is not None
    (before,) = at_hand_over
    # The device, the contract and the registration; the backlog gauge's count is a fourth when its
    # cached value (landing/backpressure.py) has expired.
    assert before.count("checkout") in (3, 4), " ".join(before)
    writes = [s for s in before if s in ("INSERT", "UPDATE")]
    assert writes == ["INSERT", "INSERT", "UPDATE"], before  # ingestion, its audit, enqueued_at
    assert before.count("commit") == 2, before  # the contract's (read-only) and the registration's

"""Signed URL → PUT → finalize event → inline queue → LOADED, on a real fake-gcs-server.

Events are handed to ``handle_finalize`` with the object's data, as the gcs_finalize function does;
the last test drives the emulator shim that produces those events.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from eventpulse.adapters.postgres.tables import audit_events, ingestions
from eventpulse.cloud.signed_url import mint_upload_url
from eventpulse.demo.generator import write_case
from eventpulse.landing.objects import FinalizeResult, handle_finalize, register_existing_object
from eventpulse.landing.register import register_path
from tests.gcs_emulator import gcs_settings, storage_client
from tests.helpers import set_contract_meta


@pytest.fixture
def settings(settings, gcs_emulator, signer_file):  # type: ignore[no-untyped-def]
    return gcs_settings(settings, gcs_emulator, signer_file)


@pytest.fixture
def bucket(gcs_emulator):  # type: ignore[no-untyped-def]
    return storage_client(gcs_emulator).bucket(gcs_emulator.bucket)


@pytest.fixture
def telemetry(tmp_path: Path) -> Path:
    return write_case("edge_telemetry", "baseline", "csv", tmp_path / "files", rows=50)


def put_signed(services: Any, path: Path, *, sha256: str | None, data: bytes | None = None) -> dict[str, Any]:
    minted = mint_upload_url(services, dataset="edge_telemetry", filename=path.name, sha256=sha256)
    response = requests.put(
        minted["url"], data=data or path.read_bytes(), headers=minted["headers"], timeout=10
    )
    assert response.status_code == 200, response.text
    return minted


def finalize(services: Any, bucket: Any, name: str) -> FinalizeResult:
    """Deliver the finalize event of the object's live generation, with the fields Eventarc sends."""
    blob = bucket.get_blob(name)
    return handle_finalize(
        services,
        bucket=bucket.name,
        name=blob.name,
        generation=str(blob.generation),
        metadata=blob.metadata,
        size=blob.size,
    )


def ingestion(services: Any, ingestion_id: Any) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def count(services: Any, table: Any, *where: Any) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_signed_upload_with_declared_hash_is_loaded_once_for_three_deliveries(services, bucket, telemetry):
    minted = put_signed(services, telemetry, sha256=sha256_of(telemetry))
    results = [finalize(services, bucket, minted["object_name"]) for _ in range(3)]
    assert [r.status for r in results] == ["registered", "duplicate", "duplicate"]
    assert len({r.ingestion_id for r in results}) == 1
    row = ingestion(services, results[0].ingestion_id)
    assert row["status"] == "LOADED", row["error"]
    assert row["source"] == "signed_url" and row["filename"] == telemetry.name and row["rows_loaded"] == 50
    assert row["raw_key"] == minted["object_name"]
    assert count(services, ingestions) == 1


def test_signed_upload_without_hash_is_copied_to_its_raw_name_and_loaded(services, bucket, telemetry):
    minted = put_signed(services, telemetry, sha256=None)
    result = finalize(services, bucket, minted["object_name"])
    assert result.status == "registered"
    row = ingestion(services, result.ingestion_id)
    assert row["status"] == "LOADED", row["error"]
    raw_name = f"{services.settings.raw_prefix}edge_telemetry/{sha256_of(telemetry)}.csv"
    assert row["raw_key"] == raw_name
    raw = bucket.get_blob(raw_name)
    assert raw.download_as_bytes() == telemetry.read_bytes()
    assert raw.metadata["sha256"] == sha256_of(telemetry) and raw.metadata["source"] == "signed_url"
    # The copy has a finalize event of its own: it must not make a second ingestion.
    assert finalize(services, bucket, raw_name).status == "duplicate"
    assert finalize(services, bucket, minted["object_name"]).status == "duplicate"
    assert count(services, ingestions) == 1


def test_object_outside_the_prefixes_is_acknowledged_and_ignored(services, bucket):
    bucket.blob("exports/2024/readings.csv").upload_from_string(b"a,b\n1,2\n")
    result = finalize(services, bucket, "exports/2024/readings.csv")
    assert result.status == "ignored" and "neither a raw object" in (result.reason or "")
    other = handle_finalize(
        services, bucket="someone-else", name="raw/x.csv", generation=1, metadata={}, size=3
    )
    assert other.status == "ignored" and "not the landing bucket" in (other.reason or "")
    assert count(services, ingestions) == 0


def test_declared_hash_that_lies_is_rejected_and_frees_the_raw_name(services, bucket, telemetry, tmp_path):
    honest = telemetry.read_bytes()
    minted = put_signed(services, telemetry, sha256=sha256_of(telemetry), data=b"event_id\nnot the file\n")
    result = finalize(services, bucket, minted["object_name"])
    assert result.status == "rejected"
    assert "declared with sha256" in (result.reason or "") and "hash to" in (result.reason or "")
    assert count(services, ingestions) == 0
    assert count(services, audit_events, audit_events.c.action == "object.rejected") == 1
    assert bucket.get_blob(minted["object_name"]) is None  # the squatting generation is gone
    # The real file can now land under its name and is loaded.
    again = put_signed(services, telemetry, sha256=sha256_of(telemetry), data=honest)
    assert finalize(services, bucket, again["object_name"]).status == "registered"


def test_rejected_event_redelivered_stays_rejected_without_a_download(services, bucket, telemetry):
    minted = put_signed(services, telemetry, sha256=sha256_of(telemetry), data=b"lies\n")
    blob = bucket.get_blob(minted["object_name"])
    first = finalize(services, bucket, minted["object_name"])
    again = handle_finalize(
        services,
        bucket=bucket.name,
        name=blob.name,
        generation=blob.generation,
        metadata=blob.metadata,
        size=5,
    )
    assert first.status == again.status == "rejected" and again.reason == first.reason


def test_object_landed_for_a_contract_broken_since_is_rejected_with_the_reason(
    services, bucket, telemetry, contracts_dir
):
    minted = put_signed(services, telemetry, sha256=sha256_of(telemetry))
    set_contract_meta(contracts_dir, "edge_telemetry", primary_keys=["event_id"])

    result = finalize(services, bucket, minted["object_name"])

    assert result.status == "rejected"
    assert "meta.eventpulse.primary_keys: unknown key" in (result.reason or "")
    assert count(services, ingestions) == 0
    assert count(services, audit_events, audit_events.c.action == "object.rejected") == 1


def test_finalize_of_an_object_the_api_landed_is_a_duplicate(services, bucket, telemetry):
    registration = register_path(services, path=telemetry, dataset="edge_telemetry", source="api", actor="t")
    raw_key = registration.ingestion["raw_key"]
    assert bucket.get_blob(raw_key).metadata["source"] == "api"
    result = finalize(services, bucket, raw_key)
    assert result.status == "duplicate" and result.ingestion_id == registration.ingestion["id"]


def test_backfill_registers_an_existing_object_once(services, bucket, telemetry):
    bucket.blob("legacy/2024/readings.csv").upload_from_filename(str(telemetry))
    first = register_existing_object(
        services, bucket=bucket.name, name="legacy/2024/readings.csv", actor="ops", dataset="edge_telemetry"
    )
    assert not first.deduplicated
    row = ingestion(services, first.ingestion["id"])
    assert row["status"] == "LOADED" and row["source"] == "gcs_backfill" and row["filename"] == "readings.csv"
    assert bucket.get_blob(row["raw_key"]).download_as_bytes() == telemetry.read_bytes()
    second = register_existing_object(
        services, bucket=bucket.name, name="legacy/2024/readings.csv", actor="ops", dataset="edge_telemetry"
    )
    assert second.deduplicated and second.ingestion["id"] == first.ingestion["id"]
    repeated = (audit_events.c.action == "ingestion.deduplicated") & (audit_events.c.actor == "ops")
    assert count(services, audit_events, repeated & (audit_events.c.entity_id == str(row["id"]))) == 1


def test_duplicate_delivery_latency(services, bucket, telemetry, record_property, capsys):
    minted = put_signed(services, telemetry, sha256=sha256_of(telemetry))
    blob = bucket.get_blob(minted["object_name"])
    assert finalize(services, bucket, minted["object_name"]).status == "registered"
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        result = handle_finalize(
            services,
            bucket=bucket.name,
            name=blob.name,
            generation=str(blob.generation),
            metadata=blob.metadata,
            size=blob.size,
        )
        timings.append((time.perf_counter() - started) * 1000)
        assert result.status == "duplicate"
    median, p95 = statistics.median(timings), sorted(timings)[int(len(timings) * 0.95)]
    record_property("duplicate_finalize_ms_median", round(median, 3))
    record_property("duplicate_finalize_ms_p95", round(p95, 3))
    with capsys.disabled():
        print(f"\nduplicate finalize delivery: median {median:.2f} ms, p95 {p95:.2f} ms (n=200)")


class _Collector(BaseHTTPRequestHandler):
    events: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.events.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_shim_posts_one_cloudevent_per_new_object_generation(gcs_emulator, bucket, tmp_path):
    from emulators.finalize_shim import Cursor, run

    _Collector.events = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}/"
    prefix = f"shim-{tmp_path.name}/"
    cursor = Cursor(tmp_path / "cursor.json")
    try:
        bucket.blob(prefix + "a.csv").upload_from_string(b"a\n1\n")
        bucket.blob(prefix + "b.csv").upload_from_string(b"b\n2\n")
        shim = {"endpoint": gcs_emulator.endpoint, "prefix": prefix, "cursor": cursor}
        assert run(bucket.name, target, once=True, **shim) == 2
        assert run(bucket.name, target, once=True, **shim) == 0
        bucket.blob(prefix + "a.csv").upload_from_string(b"a\n1\n3\n")  # a new generation
        assert run(bucket.name, target, once=True, **shim) == 1
        # The cursor file survives a restart of the shim.
        assert run(bucket.name, target, once=True, endpoint=gcs_emulator.endpoint, prefix=prefix,
                   state_path=tmp_path / "cursor.json") == 0  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Collector.events) == 3
    headers, data = _Collector.events[-1]
    live = bucket.get_blob(prefix + "a.csv")
    assert headers["ce-type"] == "google.cloud.storage.object.v1.finalized"
    assert headers["ce-specversion"] == "1.0" and headers["ce-subject"] == f"objects/{prefix}a.csv"
    assert headers["ce-source"] == f"//storage.googleapis.com/projects/_/buckets/{bucket.name}"
    assert data["name"] == f"{prefix}a.csv" and data["bucket"] == bucket.name
    assert data["generation"] == str(live.generation) and data["size"] == "6"

"""A device's signed-URL data upload and its media on a real fake-gcs-server (issue 8).

Mint, PUT the bytes to the URL with the returned headers (through ``requests``, as a device would),
then finalize: the data file becomes an ingestion with source ``device:<id>``; the photo becomes a
media record whose listing carries a signed GET that reads the bytes back.
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from eventpulse.states import Status
from tests.gcs_emulator import gcs_settings, storage_client
from tests.integration.edge_media_support import ADMIN, build_client, enrolled
from tests.integration.test_backpressure import fill_backlog
from tests.integration.test_device_binding import DATASET, write_probes_contract

CSV = b"event_id,device_id,value\ne1,pi-a,5\ne2,,7\n"


@pytest.fixture
def settings(settings, gcs_emulator, signer_file):  # type: ignore[no-untyped-def]
    return gcs_settings(settings, gcs_emulator, signer_file)


@pytest.fixture
def client(services, contracts_dir):  # type: ignore[no-untyped-def]
    write_probes_contract(contracts_dir, quarantine=True)
    return build_client(services, edge_datasets=(DATASET,), media_max_bytes=4096)


def mint(client, device, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/edge/uploads/gcs_signed_url", json=body, headers=device)


def test_a_device_uploads_by_signed_url_and_its_finalize_ingests_as_the_device(client, services) -> None:
    pi = enrolled(client, "pi-a")
    minted = mint(client, pi, dataset=DATASET, filename="batch.csv", sha256=hashlib.sha256(CSV).hexdigest())
    assert minted.status_code == 201, minted.get_json()
    signed = minted.get_json()
    assert signed["object_name"].startswith(f"edge-uploads/pi-a/{DATASET}/")
    assert signed["headers"]["x-goog-meta-source"] == "device:pi-a"
    put = requests.put(signed["url"], data=CSV, headers=signed["headers"], timeout=10)
    assert put.status_code == 200, put.text

    done = client.post("/api/edge/ingest/from_gcs", json={"object_name": signed["object_name"]}, headers=pi)
    assert done.status_code == 202, done.get_json()
    ingestion_id = done.get_json()["id"]
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None and row["source"] == "device:pi-a" and row["created_by"] == "device:pi-a"
    assert row["status"] == Status.LOADED and row["rows_loaded"] == 2
    again = client.post("/api/edge/ingest/from_gcs", json={"object_name": signed["object_name"]}, headers=pi)
    assert again.status_code == 200 and again.get_json()["deduplicated"] is True


def test_another_devices_object_is_refused_as_if_it_did_not_exist(client) -> None:
    owner, other = enrolled(client, "pi-b"), enrolled(client, "pi-c")
    signed = mint(client, owner, dataset=DATASET, filename="b.csv").get_json()
    requests.put(signed["url"], data=CSV, headers=signed["headers"], timeout=10).raise_for_status()
    name = signed["object_name"]
    stolen = client.post("/api/edge/ingest/from_gcs", json={"object_name": name}, headers=other)
    absent = client.post(
        "/api/edge/ingest/from_gcs", json={"object_name": name.replace("pi-b", "pi-c")}, headers=other
    )
    assert stolen.status_code == absent.status_code == 404
    assert stolen.get_json()["error"]["code"] == absent.get_json()["error"]["code"] == "not_found"


def test_an_object_placed_under_a_devices_prefix_without_its_signed_metadata_is_not_its_own(
    client, gcs_emulator
) -> None:
    pi = enrolled(client, "pi-d")
    name = f"edge-uploads/pi-d/{DATASET}/{'b' * 32}.csv"
    storage_client(gcs_emulator).bucket(gcs_emulator.bucket).blob(name).upload_from_string(CSV)
    assert client.post("/api/edge/ingest/from_gcs", json={"object_name": name}, headers=pi).status_code == 404


def test_a_dataset_the_device_may_not_send_is_403(client) -> None:
    pi = enrolled(client, "pi-e")
    refused = mint(client, pi, dataset="edge_telemetry", filename="a.csv")
    assert (
        refused.status_code == 403 and refused.get_json()["error"]["details"]["dataset"] == "edge_telemetry"
    )
    assert refused.get_json()["error"]["code"] == "dataset_not_allowed"


def test_media_on_gcs_sign_put_finalize_and_read_back_by_the_listed_url(client, gcs_emulator) -> None:
    cam = enrolled(client, "cam-g")
    photo = b"\xff\xd8\xff" + b"x" * 500
    minted = client.post(
        "/api/edge/media/signed_url", json={"filename": "yard.jpg", "content_type": "image/jpeg"}, headers=cam
    )
    assert minted.status_code == 201, minted.get_json()
    signed = minted.get_json()
    assert signed["object_name"].startswith("media/cam-g/")
    requests.put(signed["url"], data=photo, headers=signed["headers"], timeout=10).raise_for_status()
    done = client.post("/api/edge/media/finalize", json={"object_name": signed["object_name"]}, headers=cam)
    assert done.status_code == 201, done.get_json()
    (item,) = client.get("/api/devices/cam-g/media", headers=ADMIN).get_json()["items"]
    read = requests.get(item["read_url"], timeout=10)
    assert read.status_code == 200 and read.content == photo


def test_media_on_gcs_over_the_limit_is_deleted_at_finalize(client, gcs_emulator) -> None:
    cam = enrolled(client, "cam-h")
    signed = client.post(
        "/api/edge/media/signed_url", json={"filename": "big.mp4", "content_type": "video/mp4"}, headers=cam
    ).get_json()
    requests.put(signed["url"], data=b"v" * 5000, headers=signed["headers"], timeout=10).raise_for_status()
    done = client.post("/api/edge/media/finalize", json={"object_name": signed["object_name"]}, headers=cam)
    assert done.status_code == 413
    assert storage_client(gcs_emulator).bucket(gcs_emulator.bucket).get_blob(signed["object_name"]) is None


def test_a_device_over_its_backlog_gets_no_signed_url_and_its_finalize_waits_for_the_queue(
    client, services, tmp_path
) -> None:
    services.settings = services.settings.with_overrides(
        intake_max_waiting_per_source=1, intake_backlog_cache_seconds=0.0
    )
    pi = enrolled(client, "pi-q")
    signed = mint(client, pi, dataset=DATASET, filename="q.csv").get_json()
    data = b"event_id,device_id,value\nq1,pi-q,5\n"
    requests.put(signed["url"], data=data, headers=signed["headers"], timeout=10).raise_for_status()
    (waiting,) = fill_backlog(services, tmp_path, 1, "device:pi-q", dataset=DATASET)

    refused = mint(client, pi, dataset=DATASET, filename="r.csv")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    finalize = {"object_name": signed["object_name"]}
    shed = client.post("/api/edge/ingest/from_gcs", json=finalize, headers=pi)
    assert shed.status_code == 429 and shed.get_json()["error"]["code"] == "overloaded"

    services.queue.enqueue(waiting)  # the workers catch up; the object is still in the bucket
    done = client.post("/api/edge/ingest/from_gcs", json=finalize, headers=pi)
    assert done.status_code == 202, done.get_json()
    assert done.get_json()["status"] == Status.LOADED and done.get_json()["rows_loaded"] == 1

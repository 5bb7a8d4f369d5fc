"""The GCS raw landing and signed URLs against a real fake-gcs-server, through google-cloud-storage."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import requests

from eventpulse.cloud.signed_url import mint_upload_url
from eventpulse.errors import (
    BadData,
    BadRequest,
    ContractError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from tests.gcs_emulator import gcs_settings, storage_client
from tests.helpers import set_contract_meta

DATA = b"event_id,device_id\n1,a\n"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def settings(settings, gcs_emulator, signer_file):  # type: ignore[no-untyped-def]
    return gcs_settings(settings, gcs_emulator, signer_file)


@pytest.fixture
def bucket(gcs_emulator):  # type: ignore[no-untyped-def]
    return storage_client(gcs_emulator).bucket(gcs_emulator.bucket)


def test_put_is_create_only_under_the_content_key_with_metadata(services, bucket) -> None:
    prefix = services.settings.raw_prefix
    first = services.landing.put_stream(
        "edge_telemetry", "Sensor Ünïcode.csv", io.BytesIO(DATA), max_bytes=None, source="api"
    )
    assert first.created and first.key == f"{prefix}edge_telemetry/{SHA}.csv"
    assert first.uri == f"gs://{bucket.name}/{first.key}"
    blob = bucket.get_blob(first.key)
    assert blob.metadata == {
        "dataset": "edge_telemetry",
        "source": "api",
        "sha256": SHA,
        "filename": "Sensor %C3%9Cn%C3%AFcode.csv",
    }
    second = services.landing.put_stream("edge_telemetry", "again.csv", io.BytesIO(DATA), max_bytes=None)
    assert not second.created and second.key == first.key
    again = bucket.get_blob(first.key)
    assert again.generation == blob.generation and again.metadata["filename"] == blob.metadata["filename"]
    assert services.landing.exists(first.key)


def test_put_over_the_limit_is_refused_and_leaves_nothing(services, bucket) -> None:
    with pytest.raises(PayloadTooLarge):
        services.landing.put_stream("edge_telemetry", "big.csv", io.BytesIO(DATA), max_bytes=5)
    assert not list(bucket.list_blobs(prefix=services.settings.raw_prefix))
    assert not list(services.settings.tmp_dir.iterdir())


def test_local_path_is_named_after_the_users_file_and_removed_after(services) -> None:
    raw = services.landing.put_stream("edge_telemetry", "readings.csv", io.BytesIO(DATA), max_bytes=None)
    with services.landing.local_path(raw.key) as path:
        assert path.name == "readings.csv" and path.read_bytes() == DATA
    assert not path.exists() and not path.parent.exists()


def test_local_path_refuses_bytes_that_do_not_match_their_name(services, bucket) -> None:
    key = f"{services.settings.raw_prefix}edge_telemetry/{SHA}.csv"
    bucket.blob(key).upload_from_string(b"not the declared bytes\n")
    with pytest.raises(BadData, match="not the one its name declares"):
        with services.landing.local_path(key):
            pass


def test_signed_put_lands_the_file_and_a_second_put_is_refused(services, bucket) -> None:
    minted = mint_upload_url(services, dataset="edge_telemetry", filename="r.csv", sha256=SHA)
    assert minted["method"] == "PUT"
    assert minted["object_name"] == f"{services.settings.raw_prefix}edge_telemetry/{SHA}.csv"
    assert minted["headers"]["x-goog-if-generation-match"] == "0"
    first = requests.put(minted["url"], data=DATA, headers=minted["headers"], timeout=10)
    assert first.status_code == 200, first.text
    blob = bucket.get_blob(minted["object_name"])
    assert blob.download_as_bytes() == DATA
    assert blob.metadata == {
        "dataset": "edge_telemetry",
        "source": "signed_url",
        "sha256": SHA,
        "filename": "r.csv",
    }
    second = requests.put(minted["url"], data=b"other bytes", headers=minted["headers"], timeout=10)
    assert second.status_code == 412
    assert bucket.get_blob(minted["object_name"]).download_as_bytes() == DATA


def test_signed_url_without_a_hash_goes_to_uploads(services) -> None:
    minted = mint_upload_url(services, dataset="edge_telemetry", filename="dir/../Readings.CSV")
    assert minted["object_name"].startswith("uploads/edge_telemetry/") and minted["object_name"].endswith(
        ".csv"
    )
    assert minted["headers"]["x-goog-meta-filename"] == "Readings.CSV"
    assert "x-goog-meta-sha256" not in minted["headers"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"dataset": "Bad Name!", "filename": "a.csv"}, BadRequest),
        ({"dataset": "no_contract", "filename": "a.csv"}, NotFound),
        ({"dataset": "edge_telemetry", "filename": "a.exe"}, UnsupportedMediaType),
        ({"dataset": "edge_telemetry", "filename": "a.csv", "sha256": "abc"}, BadRequest),
        ({"dataset": "edge_telemetry", "filename": "a.csv", "expires_seconds": 0}, BadRequest),
        ({"dataset": "edge_telemetry", "filename": "a.csv", "content_type": "text/csv\r\nx: y"}, BadRequest),
    ],
)
def test_signed_url_requests_are_validated_like_uploads(services, kwargs, error) -> None:
    with pytest.raises(error):
        mint_upload_url(services, **kwargs)


def test_signed_url_for_a_dataset_whose_contract_does_not_validate_is_refused_with_422(
    services, contracts_dir
) -> None:
    set_contract_meta(contracts_dir, "edge_telemetry", primary_keys=["event_id"])
    with pytest.raises(ContractError) as refused:
        mint_upload_url(services, dataset="edge_telemetry", filename="a.csv")
    assert refused.value.http_status == 422
    assert "meta.eventpulse.primary_keys: unknown key" in refused.value.message


def test_signed_url_needs_the_gcs_landing(tmp_path: Path, database_url, contracts_dir) -> None:
    from eventpulse.bootstrap import build_services
    from eventpulse.settings import Settings

    fs = build_services(Settings(data_dir=tmp_path, database_url=database_url, contracts_dir=contracts_dir))
    try:
        with pytest.raises(BadRequest, match="filesystem"):
            mint_upload_url(fs, dataset="edge_telemetry", filename="a.csv")
    finally:
        fs.close()

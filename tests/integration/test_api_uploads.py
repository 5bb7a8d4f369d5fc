"""Dashboard uploads: a signed PUT URL and a backfill for an operator token, on both landings."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from eventpulse.api.app import create_app
from eventpulse.cloud.signed_url import SIGNED_UPLOAD_HEADERS
from tests.gcs_emulator import gcs_settings
from tests.integration.api_support import AUTH, edge_csv

ROUTES = {
    "/api/uploads/signed_url": {"dataset": "edge_telemetry", "filename": "r.csv"},
    "/api/uploads/backfill": {"name": "uploads/edge_telemetry/r.csv"},
    "/api/uploads/finalize": {"object_name": "uploads/edge_telemetry/0123456789abcdef0123456789abcdef.csv"},
}


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_on_the_filesystem_landing_each_route_says_it_needs_a_bucket(client: FlaskClient, route: str) -> None:
    response = client.post(route, json=ROUTES[route], headers=AUTH)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["message"] == "this deployment lands raw files on the filesystem, not in a GCS bucket"
    assert "EVENTPULSE_LANDING=gcs" in error["hint"]


def test_an_unknown_dataset_gets_no_url(client: FlaskClient) -> None:
    response = client.post(
        "/api/uploads/signed_url", json={"dataset": "nosuch", "filename": "r.csv"}, headers=AUTH
    )
    assert response.status_code == 404
    assert "nosuch" in response.get_json()["error"]["message"]


class TestOnGcs:
    @pytest.fixture
    def settings(self, settings, gcs_emulator, signer_file):  # type: ignore[no-untyped-def]
        return gcs_settings(settings, gcs_emulator, signer_file)

    def test_a_signed_put_then_a_backfill_registers_the_file_once(
        self, client: FlaskClient, tmp_path: Path
    ) -> None:
        minted = client.post("/api/uploads/signed_url", json=ROUTES["/api/uploads/signed_url"], headers=AUTH)
        assert minted.status_code == 201, minted.get_json()
        signed = minted.get_json()
        assert signed["method"] == "PUT" and signed["headers"]["x-goog-if-generation-match"] == "0"
        assert signed["headers"]["x-goog-meta-source"] == "dashboard_signed_url"
        assert set(signed["headers"]) <= set(SIGNED_UPLOAD_HEADERS)  # what the bucket's CORS rule allows
        put = requests.put(
            signed["url"], data=edge_csv(tmp_path).read_bytes(), headers=signed["headers"], timeout=30
        )
        assert put.status_code in (200, 201), put.text
        body = {"name": signed["object_name"], "bucket": signed["bucket"]}
        first = client.post("/api/uploads/backfill", json=body, headers=AUTH)
        assert first.status_code == 202, first.get_json()
        assert first.get_json()["dataset"] == "edge_telemetry"
        again = client.post("/api/uploads/backfill", json=body, headers=AUTH)
        assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]

    def test_finalize_registers_a_signed_put_once_with_the_dashboards_source(
        self, client: FlaskClient, tmp_path: Path
    ) -> None:
        minted = client.post("/api/uploads/signed_url", json=ROUTES["/api/uploads/signed_url"], headers=AUTH)
        signed = minted.get_json()
        body = edge_csv(tmp_path, seed=11).read_bytes()
        put = requests.put(signed["url"], data=body, headers=signed["headers"], timeout=30)
        assert put.status_code in (200, 201), put.text
        first = client.post(
            "/api/uploads/finalize", json={"object_name": signed["object_name"]}, headers=AUTH
        )
        assert first.status_code == 202, first.get_json()
        registered = first.get_json()
        assert registered["dataset"] == "edge_telemetry" and registered["source"] == "dashboard_signed_url"
        assert registered["filename"] == "r.csv"
        again = client.post(
            "/api/uploads/finalize", json={"object_name": signed["object_name"]}, headers=AUTH
        )
        assert again.status_code == 202 and again.get_json()["id"] == registered["id"]  # this upload's own
        assert again.get_json()["deduplicated"] is False
        second = client.post(
            "/api/uploads/signed_url", json=ROUTES["/api/uploads/signed_url"], headers=AUTH
        ).get_json()
        assert requests.put(second["url"], data=body, headers=second["headers"], timeout=30).ok
        same_bytes = client.post(
            "/api/uploads/finalize", json={"object_name": second["object_name"]}, headers=AUTH
        )
        assert same_bytes.status_code == 200 and same_bytes.get_json()["id"] == registered["id"]
        assert same_bytes.get_json()["deduplicated"] is True  # another upload brought these bytes first

    def test_after_the_finalize_event_the_browsers_finalize_gets_the_same_new_ingestion(
        self,
        client: FlaskClient,
        services,
        tmp_path: Path,  # type: ignore[no-untyped-def]
    ) -> None:
        from eventpulse.landing.objects import handle_finalize

        minted = client.post(
            "/api/uploads/signed_url", json=ROUTES["/api/uploads/signed_url"], headers=AUTH
        ).get_json()
        body = edge_csv(tmp_path, seed=13).read_bytes()
        assert requests.put(minted["url"], data=body, headers=minted["headers"], timeout=30).ok
        obj = services.landing.stat(minted["object_name"])
        event = handle_finalize(
            services,
            bucket=minted["bucket"],
            name=obj.name,
            generation=obj.generation,
            metadata=None,
            size=None,
        )
        assert event.status == "registered"
        answer = client.post(
            "/api/uploads/finalize", json={"object_name": minted["object_name"]}, headers=AUTH
        )
        assert answer.status_code == 202 and answer.get_json()["id"] == str(event.ingestion_id)
        assert answer.get_json()["deduplicated"] is False

    def test_a_url_signed_with_a_sha256_uses_only_headers_the_cors_rule_allows(
        self, client: FlaskClient
    ) -> None:
        body = {**ROUTES["/api/uploads/signed_url"], "sha256": "ab" * 32, "content_type": "text/csv"}
        minted = client.post("/api/uploads/signed_url", json=body, headers=AUTH)
        assert minted.status_code == 201, minted.get_json()
        assert set(minted.get_json()["headers"]) == set(SIGNED_UPLOAD_HEADERS)

    def test_finalize_refuses_a_name_it_did_not_mint_or_that_was_never_put(self, client: FlaskClient) -> None:
        minted = client.post("/api/uploads/signed_url", json=ROUTES["/api/uploads/signed_url"], headers=AUTH)
        never_put = minted.get_json()["object_name"]
        for name in (never_put, "media/pi-1/photo.jpg", "uploads/edge_telemetry/../x.csv"):
            response = client.post("/api/uploads/finalize", json={"object_name": name}, headers=AUTH)
            assert response.status_code == 404, (name, response.get_json())
            error = response.get_json()["error"]
            assert "no signed-URL upload" in error["message"] and "backfill" in error["hint"]

    def test_finalize_refuses_an_object_another_path_put_in_uploads(
        self,
        client: FlaskClient,
        tmp_path: Path,
        gcs_emulator,
        settings,  # type: ignore[no-untyped-def]
    ) -> None:
        from tests.gcs_emulator import storage_client

        name = "uploads/edge_telemetry/" + "ab" * 16 + ".csv"
        blob = storage_client(gcs_emulator).bucket(settings.gcs_bucket).blob(name)
        blob.metadata = {"dataset": "edge_telemetry", "source": "someone_else"}
        blob.upload_from_string(edge_csv(tmp_path, seed=12).read_bytes())
        response = client.post("/api/uploads/finalize", json={"object_name": name}, headers=AUTH)
        assert response.status_code == 404, response.get_json()

"""The dashboard's WSGI layer: the bundle at /, /config.json, /api/docs, and everything else to the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from eventpulse.api.web import wrap_dashboard
from eventpulse.settings import Settings


def api_stub(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Stands in for the Flask app: answers which path reached it."""
    start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
    return [f"api saw {environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    web = tmp_path / "dist"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>EventPulse</title>")
    (web / "api-docs.html").write_text("<!doctype html><title>API reference</title>")
    (web / "assets" / "main-abc123.js").write_text("console.log('hi')")
    return web


def client_for(web_dir: Path, **settings: Any) -> Client:
    return Client(wrap_dashboard(api_stub, Settings(web_dir=web_dir, **settings)))


def test_root_serves_the_built_index_with_security_headers(bundle: Path) -> None:
    response = client_for(bundle).get("/")
    assert response.status_code == 200
    assert "<title>EventPulse</title>" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_pages_may_call_only_their_origin_and_the_configured_api(bundle: Path) -> None:
    same_origin = client_for(bundle).get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self';" in same_origin
    cloud = client_for(bundle, web_api_base_url="https://api.example.test/base/").get("/")
    assert "connect-src 'self' https://api.example.test;" in cloud.headers["Content-Security-Policy"]
    assert "script-src" not in same_origin and "default-src 'self'" in same_origin  # no CDN, no inline script


def test_on_the_gcs_landing_the_pages_may_put_to_the_storage_origin_only(bundle: Path) -> None:
    def connect_src(**settings: Any) -> str:
        csp = client_for(bundle, **settings).get("/").headers["Content-Security-Policy"]
        return csp.split("connect-src ", 1)[1].split(";", 1)[0]

    assert connect_src(landing="gcs", gcs_bucket="b") == "'self' https://storage.googleapis.com"
    emulator = connect_src(landing="gcs", gcs_bucket="b", gcs_endpoint="http://127.0.0.1:4443/")
    assert emulator == "'self' http://127.0.0.1:4443"
    cloud = connect_src(landing="gcs", gcs_bucket="b", web_api_base_url="https://api.example.test")
    assert cloud == "'self' https://api.example.test https://storage.googleapis.com"
    assert (
        connect_src(gcs_endpoint="http://127.0.0.1:4443") == "'self'"
    )  # the filesystem landing PUTs nowhere
    assert "*" not in connect_src(landing="gcs", gcs_bucket="b")


def test_hashed_assets_are_cached_forever_and_unknown_ones_go_to_the_api(bundle: Path) -> None:
    client = client_for(bundle)
    asset = client.get("/assets/main-abc123.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["Cache-Control"]
    missing = client.get("/assets/nope.js")
    assert missing.status_code == 418 and missing.get_data(as_text=True) == "api saw GET /assets/nope.js"


def test_an_asset_path_cannot_escape_the_bundle_folder(bundle: Path) -> None:
    (bundle.parent / "secret.txt").write_text("not for you")
    response = client_for(bundle).get("/assets/../../secret.txt")
    assert "not for you" not in response.get_data(as_text=True)


def test_config_json_gives_the_api_base_url_and_no_secret(bundle: Path) -> None:
    response = client_for(
        bundle, web_api_base_url="https://api.example.test", api_token_sha256=("ab" * 32,)
    ).get("/config.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    config = json.loads(response.get_data())
    assert config["api_base_url"] == "https://api.example.test"
    assert config["mode"] == "local"
    assert "ab" * 32 not in response.get_data(as_text=True)


def test_api_docs_page_is_the_bundle_swagger_page(bundle: Path) -> None:
    response = client_for(bundle).get("/api/docs")
    assert response.status_code == 200 and "API reference" in response.get_data(as_text=True)


def test_api_routes_and_writes_pass_through_unchanged(bundle: Path) -> None:
    client = client_for(bundle)
    assert client.get("/api/ingestions").get_data(as_text=True) == "api saw GET /api/ingestions"
    assert client.post("/").get_data(as_text=True) == "api saw POST /"
    assert client.get("/health").get_data(as_text=True) == "api saw GET /health"


def test_without_a_bundle_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    response = client_for(tmp_path / "missing").get("/")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "make web" in page and "EVENTPULSE_WEB_DIR" in page
    assert client_for(tmp_path / "missing").get("/api/docs").status_code == 503

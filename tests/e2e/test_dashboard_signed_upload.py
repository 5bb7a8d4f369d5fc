"""The Ingest page's signed-URL upload in a real browser: Chromium PUTs the file straight to the GCS emulator.

`eventpulse serve` runs on the GCS landing against fake-gcs-server behind the precondition proxy, whose
bucket CORS rule allows the dashboard's origin only (emulators/gcs_preconditions.py, emulator behaviour:
GCS applies the Terraform rule). The page mints the URL, PUTs with XMLHttpRequest (progress events) and
exactly the signed headers, finalizes, and follows the ingestion to LOADED. The served CSP must let the
page reach the emulator's origin, or the PUT never leaves the browser.
"""

from __future__ import annotations

import csv
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.gcs import EmulatorError, GcsEmulator
from emulators.gcs_preconditions import CorsRule
from tests.conftest import TEST_TOKEN
from tests.e2e import test_dashboard as dashboard
from tests.e2e.edge_harness import ServerProcess
from tests.e2e.test_dashboard import WEB_DIR, Watched, ensure_browser_and_bundle, open_page, screenshot
from tests.gcs_emulator import storage_client
from tests.helpers import wait_until

# The browser module's fixtures, for this module's own server (pytest finds fixtures by name).
browser = dashboard.browser
demo_files = dashboard.demo_files
web_database = dashboard.web_database

pytestmark = pytest.mark.slow

BUCKET = "eventpulse-web-signed"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


@pytest.fixture(scope="module")
def gcs_server(
    web_database: str, signer_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, GcsEmulator]]:
    """The server on the GCS landing, and an emulator whose CORS rule allows that server's origin only."""
    ensure_browser_and_bundle()
    root = tmp_path_factory.mktemp("web_signed")
    server = ServerProcess(web_database, data_dir=root / "data", log=root / "serve.log")
    emulator = GcsEmulator(bucket=BUCKET, cors=CorsRule(origins=(server.url,)))
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.fail(f"the GCS emulator did not start: {exc} (run `make install`)", pytrace=False)
    server.extra_env = {
        "EVENTPULSE_WEB_DIR": str(WEB_DIR),
        "EVENTPULSE_LANDING": "gcs",
        "EVENTPULSE_GCS_BUCKET": BUCKET,
        "EVENTPULSE_GCS_ENDPOINT": emulator.endpoint,
        "EVENTPULSE_GCS_CREDENTIALS_FILE": str(signer_file),
        "EVENTPULSE_RAW_PREFIX": f"raw-{uuid.uuid4().hex[:8]}/",
    }
    try:
        server.start()
        yield server, emulator
    finally:
        server.stop()
        emulator.stop()


def open_ingest(browser: Any, server: ServerProcess, **kwargs: Any) -> tuple[Watched, Any]:
    watched = open_page(browser, server, **kwargs)
    page = watched.page
    page.goto(server.url + "/#/ingest")
    card = page.locator("section", has_text="Signed-URL upload")
    card.locator("select[name=signed_dataset] option[value=parcels]").wait_for(state="attached")
    card.locator("select[name=signed_dataset]").select_option("parcels")
    return watched, card


def test_a_signed_url_upload_puts_from_the_browser_shows_progress_and_reaches_loaded(
    browser: Any, gcs_server: tuple[ServerProcess, GcsEmulator], demo_files: Path
) -> None:
    server, emulator = gcs_server
    path = demo_files / "parcels_baseline.csv"
    watched, card = open_ingest(browser, server)
    puts: list[Any] = []
    watched.page.on("request", lambda r: r.method == "PUT" and puts.append(r))
    card.locator("input[name=signed_file]").set_input_files(str(path))
    with watched.page.expect_response("**/api/uploads/signed_url") as minted:
        card.get_by_role("button", name="send to the bucket").click()
    signed = minted.value.json()
    card.get_by_test_id("signed-progress").wait_for()
    result = card.get_by_test_id("signed-result")
    result.get_by_text("LOADED").wait_for(timeout=60_000)
    assert card.get_by_test_id("signed-percent").inner_text() == "100 %"
    card.scroll_into_view_if_needed()
    screenshot(watched, "ingest-signed-url")
    watched.assert_clean()

    # The browser PUT straight to the emulator with the signed headers, and no API token went there.
    assert len(puts) == 1 and puts[0].url.startswith(f"{emulator.endpoint}/{BUCKET}/uploads/parcels/")
    sent = puts[0].all_headers()
    assert {k: sent.get(k) for k in signed["headers"]} == signed["headers"]  # each one exactly as signed
    assert sent["x-goog-if-generation-match"] == "0" and sent["x-goog-meta-source"] == "dashboard_signed_url"
    assert sent["content-type"] == "text/csv" and "authorization" not in sent
    ingestion_id = result.locator("a").get_attribute("href").rsplit("/", 1)[-1]  # type: ignore[union-attr]
    row = requests.get(f"{server.url}/api/ingestions/{ingestion_id}", headers=AUTH, timeout=10).json()
    assert row["status"] == "LOADED" and row["source"] == "dashboard_signed_url"
    body = path.read_bytes()
    assert row["sha256"] == hashlib.sha256(body).hexdigest()
    bucket = storage_client(emulator).bucket(BUCKET)
    staged = puts[0].url.split(f"/{BUCKET}/", 1)[1].split("?", 1)[0]
    assert bucket.blob(staged).download_as_bytes() == body  # what the browser sent, byte for byte
    raw = [
        b
        for b in bucket.list_blobs(prefix=server.extra_env["EVENTPULSE_RAW_PREFIX"])
        if row["sha256"] in b.name
    ]
    assert len(raw) == 1 and raw[0].download_as_bytes() == body  # what the platform keeps


def test_an_object_that_already_exists_gets_412_and_the_page_says_what_to_do(
    browser: Any, gcs_server: tuple[ServerProcess, GcsEmulator], demo_files: Path
) -> None:
    """Someone PUTs to the minted URL first (the test, between the API's answer and the page's PUT): the
    emulator's create-only check answers the page's PUT 412, and nothing is registered."""
    server, _ = gcs_server
    watched, card = open_ingest(browser, server, expected_statuses={412})
    page = watched.page
    taken: list[str] = []

    def put_first(route: Any) -> None:
        response = route.fetch()  # the real answer of POST /api/uploads/signed_url, passed on unchanged
        signed = response.json()
        first = requests.put(
            signed["url"], data=b"someone else's bytes", headers=signed["headers"], timeout=10
        )
        assert first.status_code == 200, first.text
        taken.append(signed["object_name"])
        route.fulfill(response=response)

    page.route("**/api/uploads/signed_url", put_first)
    card.locator("input[name=signed_file]").set_input_files(str(demo_files / "parcels_add_column.csv"))
    card.get_by_role("button", name="send to the bucket").click()
    error = card.get_by_test_id("error").filter(has_text="already exists")
    error.wait_for()
    text = error.inner_text()
    assert taken and f"gs://{BUCKET}/{taken[0]}" in text
    assert "create-only" in text and "Backfill from GCS" in text and "upload the file again" in text
    assert "token" not in text and "<Error>" not in text
    assert not any("/api/uploads/finalize" in u for u in watched.urls)  # nothing registered
    assert card.get_by_test_id("signed-result").count() == 0
    watched.assert_clean()


def test_a_csv_header_the_drift_policy_rejects_gets_no_url_and_uploads_nothing(
    browser: Any, gcs_server: tuple[ServerProcess, GcsEmulator], demo_files: Path, tmp_path: Path
) -> None:
    server, _ = gcs_server
    baseline = demo_files / "parcels_baseline.csv"  # the schema history the header is checked against
    landed = requests.post(
        f"{server.url}/api/ingest/upload",
        params={"dataset": "parcels", "filename": baseline.name},
        data=baseline.read_bytes(),
        headers=AUTH,
        timeout=60,
    )
    assert landed.status_code in (200, 202), landed.text
    wait_until(
        lambda: (
            requests.get(
                f"{server.url}/api/ingestions/{landed.json()['id']}", headers=AUTH, timeout=10
            ).json()["status"]
            == "LOADED"
        ),
        "the baseline to load",
        timeout=60,
        interval=0.2,
    )
    drifted = tmp_path / "parcels_without_grantee.csv"  # removed_columns: fail; its header shows it
    with baseline.open(newline="") as source:
        rows = [row for _, row in zip(range(3), csv.DictReader(source), strict=False)]
    with drifted.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f for f in rows[0] if f != "grantee"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    watched, card = open_ingest(browser, server, expected_statuses={422})
    card.locator("input[name=signed_file]").set_input_files(str(drifted))
    card.locator("input[name=signed_check_header]").check()
    card.get_by_role("button", name="send to the bucket").click()
    error = card.get_by_test_id("error").filter(has_text="grantee")
    error.wait_for()
    assert "Traceback" not in error.inner_text() and "{" not in error.inner_text()
    assert not any(r.startswith(gcs_server[1].endpoint) for r in watched.urls)  # no PUT: no URL was minted
    assert card.get_by_test_id("signed-progress").count() == 0
    watched.assert_clean()


def test_a_page_origin_the_bucket_rule_does_not_allow_is_told_about_cors(
    browser: Any, gcs_server: tuple[ServerProcess, GcsEmulator], demo_files: Path
) -> None:
    """The same server reached as http://localhost:<port>: a different origin, refused by the CORS rule."""
    server, _ = gcs_server
    watched = open_page(browser, server)
    page = watched.page
    page.goto(f"http://localhost:{server.port}/#/ingest")
    card = page.locator("section", has_text="Signed-URL upload")
    card.locator("select[name=signed_dataset] option[value=parcels]").wait_for(state="attached")
    card.locator("input[name=signed_file]").set_input_files(str(demo_files / "parcels_add_column.csv"))
    card.get_by_role("button", name="send to the bucket").click()
    error = card.get_by_test_id("error").filter(has_text="could not reach storage")
    error.wait_for()
    text = error.inner_text()
    assert f"http://localhost:{server.port}" in text and "cors_origins" in text
    # The browser refused the PUT after the preflight: the only failure is that request.
    assert watched.problems and all("PUT" in p or "CORS" in p or "preflight" in p for p in watched.problems)

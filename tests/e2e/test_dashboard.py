"""The web dashboard in a real browser: Debian's Chromium driven by Playwright against `eventpulse serve`.

One real server for the module (waitress, inline queue, a fresh Postgres database, the built bundle from
`make web`), demo data loaded through the API, and every page checked for real data, no console error
and no failed request. Playwright never downloads a browser: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import struct
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import REPO_ROOT, TEST_TOKEN, TEST_TOKEN_SHA256
from tests.e2e.edge_harness import BIN, ServerProcess
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("EVENTPULSE_TEST_CHROMIUM", "/usr/bin/chromium"))
WEB_DIR = REPO_ROOT / "web" / "dist"
# Every run takes the screenshots; `make screenshots` (EVENTPULSE_UPDATE_SCREENSHOTS=1) writes them to the
# docs, other runs to build/ (so a test run does not change tracked files).
SCREENSHOTS = (
    REPO_ROOT / ("docs" if os.environ.get("EVENTPULSE_UPDATE_SCREENSHOTS") else "build") / "screenshots"
)
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
VIEWER_TOKEN = "web-e2e-viewer-token-0123456789"


def ensure_browser_and_bundle() -> None:
    """Fail, saying how to fix it, when the browser or the built bundle is missing (never skip)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's (`apt-get install -y chromium`; .ci/run does) "
            "or set EVENTPULSE_TEST_CHROMIUM. Playwright must not download a browser of its own."
        )
    if not (WEB_DIR / "index.html").is_file():
        pytest.fail(f"the dashboard bundle is not built in {WEB_DIR}: run `make web` (make test does)")


@pytest.fixture(scope="module")
def web_database(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this module (the server migrates it on start), dropped at the end."""
    name = f"eventpulse_web_e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def server(web_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ensure_browser_and_bundle()
    root = tmp_path_factory.mktemp("web_server")
    process = ServerProcess(
        web_database,
        data_dir=root / "data",
        log=root / "serve.log",
        extra_env={
            "EVENTPULSE_WEB_DIR": str(WEB_DIR),
            "EVENTPULSE_DEVICE_SWEEP_INTERVAL_SECONDS": "1",
            "EVENTPULSE_API_TOKENS": f"e2e-admin:admin:{TEST_TOKEN_SHA256},"
            f"e2e-viewer:viewer:{hashlib.sha256(VIEWER_TOKEN.encode()).hexdigest()}",
        },
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [str(BIN / "eventpulse"), "demo", "generate", "--out", str(out)], check=True, capture_output=True
    )
    return out


def api(server: ServerProcess, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, server.url + path, headers=AUTH, timeout=30, **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def upload(server: ServerProcess, path: Path, dataset: str = "parcels") -> dict[str, Any]:
    result: dict[str, Any] = api(
        server,
        "POST",
        "/api/ingest/upload",
        params={"dataset": dataset, "filename": path.name},
        data=path.read_bytes(),
    )
    return result


def wait_finished(server: ServerProcess, ingestion_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        row: dict[str, Any] = api(server, "GET", f"/api/ingestions/{ingestion_id}")
        return row if row["status"] not in ("RECEIVED", "PROCESSING") else None

    return wait_until(finished, f"ingestion {ingestion_id} to finish", timeout=60, interval=0.2)


@pytest.fixture(scope="module")
def demo(server: ServerProcess, demo_files: Path) -> dict[str, Any]:
    """Demo data through the API: seeded parcels, a drifted file, a failing one; all finished."""
    seeded = api(server, "POST", "/api/demo/seed/parcels", params={"limit": 1200})
    ids = {item["filename"]: item["id"] for item in seeded["items"]}
    for name in ("parcels_type_change.csv", "parcels_duplicate_pk.csv"):
        ids[name] = upload(server, demo_files / name)["id"]
    rows = {name: wait_finished(server, i) for name, i in ids.items()}
    assert rows["parcels_type_change.csv"]["status"] == "FAILED_DRIFT"
    assert rows["parcels_duplicate_pk.csv"]["status"] == "FAILED_QUALITY"
    return {"ids": ids, "rows": rows}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ensure_browser_and_bundle()
    with sync_playwright() as playwright:
        # Root (CI) cannot use Chromium's sandbox; the pages come only from our own loopback server.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        launched.close()


class Watched:
    """A page plus every console error, page error and failed (or 4xx/5xx) request it met."""

    def __init__(self, page: Any, expected_statuses: set[int] | None = None) -> None:
        self.page = page
        self.problems: list[str] = []
        self.urls: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        self.expected = expected_statuses or set()
        page.on("console", lambda m: m.type == "error" and self._problem(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.method} {r.url}"))
        page.on("response", self._response)

    def _problem(self, text: str) -> None:
        # A 4xx the test provoked on purpose also shows as a console line; the response check judges it.
        if "Failed to load resource" not in text:
            self.problems.append(text)

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.expected:
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def assert_clean(self) -> None:
        assert self.problems == [], "the page had problems:\n" + "\n".join(self.problems)


def open_page(browser: Any, server: ServerProcess, token: str | None = TEST_TOKEN, **kwargs: Any) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if token:
        context.add_init_script(f"sessionStorage.setItem('eventpulse.token', {token!r})")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return Watched(page, **kwargs)


def screenshot(watched: Watched, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


# -- every page with real data ---------------------------------------------------------------------------


def test_dashboard_page_shows_status_totals_and_recent_failures(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/")
    total = len(demo["ids"])
    page.get_by_test_id("total-ingestions").filter(has_text=str(total)).wait_for()
    failures = page.get_by_test_id("recent-failures")
    failures.get_by_text("parcels_duplicate_pk.csv").wait_for()
    assert "parcels_type_change.csv" in failures.inner_text()
    assert "FAILED_QUALITY" in page.get_by_test_id("status-counts").inner_text()
    page.get_by_test_id("chart").locator("canvas").first.wait_for()
    screenshot(watched, "dashboard")
    watched.assert_clean()


def test_ingestions_page_filters_by_state_and_pages(browser: Any, server: ServerProcess, demo: Any) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/ingestions")
    table = page.get_by_test_id("ingestions")
    table.get_by_text("parcels_seed_0001.csv").wait_for()
    assert f"of {len(demo['ids'])}" in page.get_by_test_id("page-range").inner_text()
    screenshot(watched, "ingestions")
    page.select_option("select[name=status]", "FAILED_DRIFT")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=ingestions] tbody tr').length === 1"
    )
    assert "parcels_type_change.csv" in table.inner_text()
    assert "1–1 of 1" in page.get_by_test_id("page-range").inner_text()
    page.select_option("select[name=status]", "")
    page.get_by_test_id("page-range").filter(has_text=f"of {len(demo['ids'])}").wait_for()  # re-rendered
    page.fill("input[name=source]", "demo")
    page.press("input[name=source]", "Enter")
    page.get_by_test_id("page-range").filter(has_text="1–3 of 3").wait_for()
    assert set(table.locator("tbody td:nth-child(5)").all_inner_texts()) == {"demo"}
    watched.assert_clean()


def test_failed_ingestion_detail_shows_its_error_failing_rows_and_audit(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    failed = demo["ids"]["parcels_duplicate_pk.csv"]
    page.goto(server.url + f"/#/ingestions/{failed}")
    page.get_by_test_id("ingestion-error").get_by_text("expect_column_values_to_be_unique").wait_for()
    page.get_by_role("tab", name="quality").click()
    results = page.get_by_test_id("quality-results")
    results.get_by_text("expect_column_values_to_be_unique").wait_for()
    screenshot(watched, "ingestion-detail")
    page.get_by_role("tab", name="audit").click()
    page.get_by_test_id("audit-trail").get_by_text("ingestion.registered").wait_for()
    page.get_by_role("tab", name="lineage").click()
    assert "curated_parcels" in page.get_by_test_id("lineage").inner_text()
    watched.assert_clean()


def test_drifted_ingestion_detail_shows_the_schema_changes(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    drifted = demo["ids"]["parcels_type_change.csv"]
    page.goto(server.url + f"/#/ingestions/{drifted}?tab=drift")
    changes = page.get_by_test_id("drift-changes")
    changes.get_by_text("sale_price").wait_for()
    assert "type_widened" in changes.inner_text()
    assert "schema drift" in page.get_by_text("decision:").inner_text()
    watched.assert_clean()


def test_upload_shows_progress_and_reaches_loaded(
    browser: Any, server: ServerProcess, demo: Any, demo_files: Path, tmp_path: Path
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/ingest")
    page.locator("select[name=dataset] option[value=parcels]").wait_for(state="attached")
    page.select_option("select[name=dataset]", "parcels")
    page.set_input_files("input[type=file]", str(demo_files / "parcels_add_column.csv"))
    page.get_by_role("button", name="upload").click()
    page.get_by_test_id("upload-progress").wait_for()
    result = page.get_by_test_id("upload-result")
    result.get_by_text("LOADED").wait_for(timeout=60_000)
    assert page.get_by_test_id("upload-percent").inner_text() == "100 %"
    screenshot(watched, "ingest")
    watched.assert_clean()


def test_signed_url_and_backfill_say_clearly_that_the_filesystem_landing_has_no_bucket(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server, expected_statuses={400})
    page = watched.page
    page.goto(server.url + "/#/ingest")
    signed = page.locator("section", has_text="Signed-URL upload")
    signed.locator("select[name=signed_dataset] option[value=parcels]").wait_for(state="attached")
    signed.locator("select[name=signed_dataset]").select_option("parcels")
    signed.locator("input[name=signed_file]").set_input_files(
        files=[{"name": "parcels.csv", "mimeType": "text/csv", "buffer": b"parcel_id\n1\n"}]
    )
    signed.get_by_role("button", name="send to the bucket").click()
    backfill = page.locator("section", has_text="Backfill from GCS")
    backfill.locator("input[name=backfill_name]").fill("uploads/parcels/p.csv")
    backfill.get_by_role("button", name="backfill").click()
    for card in (signed, backfill):
        error = card.get_by_test_id("error").filter(has_text="lands raw files on the filesystem")
        error.wait_for()
        text = error.inner_text()
        assert "EVENTPULSE_LANDING=gcs" in text and "{" not in text and "Traceback" not in text
    assert signed.get_by_test_id("signed-progress").count() == 0  # no URL, so no PUT
    screenshot(watched, "ingest-gcs")
    watched.assert_clean()


def test_a_header_the_drift_policy_rejects_is_refused_before_upload_with_the_reason(
    browser: Any, server: ServerProcess, demo: Any, demo_files: Path, tmp_path: Path
) -> None:
    drifted = tmp_path / "parcels_without_grantee.csv"  # removed_columns: fail; its header shows it
    with (demo_files / "parcels_baseline.csv").open(newline="") as source:
        rows = [row for _, row in zip(range(3), csv.DictReader(source), strict=False)]
    with drifted.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f for f in rows[0] if f != "grantee"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    watched = open_page(browser, server, expected_statuses={422})
    page = watched.page
    page.goto(server.url + "/#/ingest")
    page.locator("select[name=dataset] option[value=parcels]").wait_for(state="attached")
    page.select_option("select[name=dataset]", "parcels")
    page.set_input_files("input[type=file]", str(drifted))
    page.check("input[name=fail_fast]")
    page.get_by_role("button", name="upload").click()
    error = page.get_by_test_id("error")
    error.get_by_text("grantee").wait_for()
    assert "Traceback" not in error.inner_text() and "{" not in error.inner_text()
    assert api(server, "GET", "/api/ingestions", params={"source": "dashboard"})["total"] == 1  # nothing new
    watched.assert_clean()


def test_without_a_token_an_admin_action_asks_for_one(browser: Any, server: ServerProcess, demo: Any) -> None:
    watched = open_page(browser, server, token=None, expected_statuses={401})
    page = watched.page
    page.goto(server.url + "/#/ops")
    page.get_by_test_id("readiness").get_by_text("database ok").wait_for()  # public: no token needed
    page.get_by_role("button", name="run reclaim").click()
    reclaim = page.locator("section", has_text="Reclaim stuck work")
    error = reclaim.get_by_test_id("error").filter(has_text="Enter an API token")
    error.wait_for()
    assert "a valid API token is required" in error.inner_text()
    watched.assert_clean()


def test_without_a_token_a_page_asks_for_one_and_then_works(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server, token=None, expected_statuses={401})
    page = watched.page
    page.goto(server.url + "/#/ingestions")
    page.get_by_test_id("error").get_by_text("Enter an API token").wait_for()
    page.fill("input[name=token]", TEST_TOKEN)
    page.get_by_role("button", name="use token").click()
    page.get_by_test_id("ingestions").get_by_text("parcels_seed_0001.csv").wait_for()
    watched.assert_clean()


# -- datasets and contracts ----------------------------------------------------------------------------


def test_contract_edit_shows_a_validation_error_then_dry_runs_and_saves_a_new_version(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    before = api(server, "GET", "/api/contracts/parcels")
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/datasets")
    page.get_by_test_id("datasets").get_by_role("link", name="parcels").click()
    page.get_by_test_id("contract-version").filter(has_text=before["version"]).wait_for()
    editor = page.locator("textarea[name=suite]")
    broken = json.loads(editor.input_value())
    broken["meta"]["eventpulse"]["columns"]["city"] = {"type": "no_such_type"}
    editor.fill(json.dumps(broken, indent=2))
    page.get_by_role("button", name="validate").click()
    page.get_by_test_id("validation-error").get_by_text("city").wait_for()

    fixed = json.loads(json.dumps(before["suite"]))
    fixed["meta"]["eventpulse"]["columns"]["city"] = {
        "type": "string",
        "description": "edited in the browser",
    }
    editor.fill(json.dumps(fixed, indent=2))
    page.get_by_role("button", name="validate").click()
    page.get_by_test_id("contract-changes").get_by_text("column_changed").wait_for()
    page.get_by_role("button", name="dry run on the last 5 files").click()
    page.get_by_test_id("dry-run").get_by_text("file(s) evaluated").wait_for(timeout=60_000)
    page.get_by_test_id("outcome").get_by_text("nothing was written").wait_for()
    screenshot(watched, "contract-editor")
    page.fill("input[name=note]", "city described")
    page.get_by_role("button", name="save").click()
    page.get_by_test_id("outcome").get_by_text("saved as version").wait_for()
    after = api(server, "GET", "/api/contracts/parcels")
    assert after["version"] != before["version"]
    assert after["suite"]["meta"]["eventpulse"]["columns"]["city"]["description"] == "edited in the browser"
    page.get_by_test_id("contract-version").filter(has_text=after["version"]).wait_for()
    page.get_by_role("tab", name="history").click()
    history = page.get_by_test_id("contract-history")
    history.get_by_text(after["version"]).wait_for()
    assert "city described" in history.inner_text()
    watched.assert_clean()


def test_dataset_sample_pages_curated_rows_with_lineage_columns(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    total = api(server, "GET", "/api/datasets/parcels/sample", params={"limit": 1})["total"]
    assert total > 25
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/datasets/parcels?tab=sample")
    rows = page.get_by_test_id("sample-rows")
    rows.locator("tbody tr").first.wait_for()
    headers = rows.locator("thead th").all_inner_texts()
    assert {"_ingestion_id", "_source_row", "_loaded_at"} <= set(headers)
    assert rows.locator("tbody tr").count() == 25
    assert page.get_by_test_id("page-range").inner_text() == f"1–25 of {total:,}"
    page.get_by_role("button", name="next →").click()
    page.get_by_test_id("page-range").get_by_text(f"26–{min(50, total)} of").wait_for()
    screenshot(watched, "dataset-sample")
    watched.assert_clean()


def test_ingestion_curated_preview_shows_only_its_rows(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    loaded = next(r for r in demo["rows"].values() if r["status"] == "LOADED" and r["rows_loaded"])
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + f"/#/ingestions/{loaded['id']}?tab=curated%20preview")
    rows = page.get_by_test_id("sample-rows")
    rows.locator("tbody tr").first.wait_for()
    column = rows.locator("thead th").all_inner_texts().index("_ingestion_id") + 1
    cells = set(rows.locator(f"tbody td:nth-child({column})").all_inner_texts())
    assert cells == {loaded["id"]}
    # Rows a later file upserted carry that file's _ingestion_id now (other tests load parcels too).
    params = {"ingestion_id": loaded["id"], "limit": 1}
    still = api(server, "GET", "/api/datasets/parcels/sample", params=params)["total"]
    assert 0 < still <= loaded["rows_loaded"]
    assert page.get_by_test_id("page-range").inner_text() == f"1–{min(25, still)} of {still:,}"
    watched.assert_clean()


def test_a_viewer_token_reads_but_a_save_says_which_role_it_needs(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server, token=VIEWER_TOKEN, expected_statuses={403})
    page = watched.page
    page.goto(server.url + "/#/datasets/parcels")
    page.get_by_test_id("contract-version").wait_for()
    page.get_by_role("button", name="save").click()
    error = page.get_by_test_id("error")
    error.get_by_text("admin").wait_for()
    assert "stronger token" in error.inner_text()
    watched.assert_clean()


# -- quarantine -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def held(server: ServerProcess, demo: Any, demo_files: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file with one held row: sale_price >= 0 becomes a warning that quarantines its failing rows."""
    current = api(server, "GET", "/api/contracts/parcels")
    suite = current["suite"]
    for expectation in suite["expectations"]:
        if (
            expectation["type"] == "expect_column_values_to_be_between"
            and expectation["kwargs"]["column"] == "sale_price"
        ):
            expectation["meta"] = {"severity": "warning", "on_row_failure": "quarantine"}
    api(server, "PUT", "/api/contracts/parcels", json={"suite": suite, "base_version": current["version"]})
    # The add-column file has the latest schema (the upload test evolved the dataset with it).
    with (demo_files / "parcels_add_column.csv").open(newline="") as source:
        reader = csv.DictReader(source)
        rows = [next(reader) for _ in range(3)]
        fields = reader.fieldnames
    assert fields is not None
    for n, row in enumerate(rows):
        row["parcel_id"] = f"HELD{n}"
    rows[1]["sale_price"] = "-5"
    path = tmp_path_factory.mktemp("held") / "parcels_negative_price.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    row = wait_finished(server, upload(server, path)["id"])
    assert row["status"] == "PARTIALLY_LOADED" and row["rows_quarantined"] == 1, row
    return str(row["id"])


def test_quarantine_page_lists_the_held_row_and_replays_it(
    browser: Any, server: ServerProcess, held: str
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/quarantine")
    table = page.get_by_test_id("quarantine")
    table.get_by_text("expect_column_values_to_be_between").wait_for()
    assert "HELD1" in table.inner_text()
    screenshot(watched, "quarantine")
    table.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="replay 1 selected").click()
    page.get_by_test_id("outcome").get_by_text("1 held row(s) sent to be revalidated").wait_for()
    replays = api(server, "GET", "/api/ingestions", params={"dataset": "parcels"})["items"]
    replay = next(i for i in replays if i["replay_of"] == held)
    assert replay["source"] == "quarantine_replay"
    page.goto(server.url + f"/#/ingestions/{held}?tab=quarantined%20rows")
    page.get_by_test_id("held-rows").get_by_text("HELD1").wait_for()
    watched.assert_clean()


# -- devices ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def device(
    server: ServerProcess, demo_files: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A provisioned device expected every second and never heard: the sweep opens a silent alert.

    Its telemetry (demo readings with positions, relabelled as this device) is sent by the device itself
    (``POST /api/edge/ingest/upload``); it is silent again two seconds later.
    """
    made = api(
        server,
        "POST",
        "/api/devices",
        json={"device_id": "web-e2e-1", "group": "north", "cadence_seconds": 1},
    )
    with (demo_files / "edge_telemetry_baseline.csv").open(newline="") as source:
        reader = csv.DictReader(source)
        rows = [row for row in reader if row["event_type"] == "reading" and row["lat"]][:40]
        fields = reader.fieldnames
    assert fields is not None and rows
    for row in rows:
        row["device_id"], row["event_id"] = "web-e2e-1", str(uuid.uuid4())
    telemetry = tmp_path_factory.mktemp("telemetry") / "web-e2e-1.csv"
    with telemetry.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    sent = requests.post(
        server.url + "/api/edge/ingest/upload",
        params={"dataset": "edge_telemetry", "filename": telemetry.name},
        headers={"X-Device-Id": "web-e2e-1", "X-Device-Token": made["device_token"]},
        data=telemetry.read_bytes(),
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    loaded = wait_finished(server, sent.json()["id"])
    assert loaded["status"] == "LOADED" and loaded["source"] == "device:web-e2e-1", loaded

    def silent_alert() -> dict[str, Any] | None:
        items = api(server, "GET", "/api/devices/alerts", params={"device_id": "web-e2e-1", "open": "true"})[
            "items"
        ]
        return items[0] if items else None

    alert = wait_until(silent_alert, "the device sweep to raise a silent alert", timeout=30, interval=0.3)
    return {"token": made["device_token"], "alert": alert}


def test_devices_page_acknowledges_an_alert(browser: Any, server: ServerProcess, device: Any) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/devices")
    page.get_by_test_id("devices").get_by_text("web-e2e-1").wait_for()
    alerts = page.get_by_test_id("alerts")
    alerts.get_by_text("silent").first.wait_for()
    page.get_by_test_id("device-map").locator('circle[data-device="web-e2e-1"]').wait_for()
    land = "() => document.querySelector('[data-testid=device-map] path').getAttribute('d').length > 1000"
    page.wait_for_function(land)  # the bundled Natural Earth layer, no tile server
    screenshot(watched, "devices")
    alerts.get_by_role("button", name="acknowledge").first.click()
    page.get_by_test_id("outcome").get_by_text("acknowledged").wait_for()
    acked = api(server, "GET", "/api/devices/alerts", params={"device_id": "web-e2e-1"})["items"]
    assert acked[0]["acknowledged_by"] == "token:e2e-admin"
    watched.assert_clean()


def test_a_command_queued_in_the_page_shows_its_result_after_the_device_acks_it(
    browser: Any, server: ServerProcess, device: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/devices/web-e2e-1?tab=commands")
    page.select_option("select[name=kind]", "set_sampling_interval")
    page.fill("input[name=params]", '{"seconds": 30}')
    page.get_by_role("button", name="queue command").click()
    page.get_by_test_id("outcome").get_by_text("set_sampling_interval queued").wait_for()
    page.get_by_test_id("commands").get_by_text("queued").wait_for()
    # The device's side, over its own routes: fetch the command, run it, report the result.
    headers = {"X-Device-Id": "web-e2e-1", "X-Device-Token": device["token"]}
    pending = requests.get(server.url + "/api/edge/commands", headers=headers, timeout=10).json()["items"]
    (command,) = [c for c in pending if c["kind"] == "set_sampling_interval"]
    ack = requests.post(
        server.url + f"/api/edge/commands/{command['command_id']}/ack",
        headers=headers,
        json={"ok": True, "output": "sampling every 30 s"},
        timeout=10,
    )
    assert ack.status_code == 200, ack.text
    page.get_by_role("button", name="refresh").click()
    page.get_by_test_id("commands").get_by_text("succeeded").wait_for()
    watched.assert_clean()


def test_device_telemetry_tab_charts_each_sensor(browser: Any, server: ServerProcess, device: Any) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/devices/web-e2e-1?tab=telemetry")
    page.locator("[data-testid=chart] canvas").first.wait_for()
    sensors = page.locator(".card h2").all_inner_texts()
    assert sensors and all(sensors), sensors
    screenshot(watched, "device-telemetry")
    watched.assert_clean()


def tiny_png() -> bytes:
    """A valid 2x2 PNG, built here (no image library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def send_photo(server: ServerProcess, device: Any, filename: str) -> None:
    """The device sends a 2x2 PNG the way the agent does: signed URL, PUT, finalize."""
    headers = {"X-Device-Id": "web-e2e-1", "X-Device-Token": device["token"]}
    photo = tiny_png()
    signed = requests.post(
        server.url + "/api/edge/media/signed_url",
        headers=headers,
        json={"filename": filename, "content_type": "image/png", "size": len(photo)},
        timeout=10,
    )
    assert signed.status_code == 201, signed.text
    target = signed.json()
    put = requests.put(target["url"], headers=target["headers"], data=photo, timeout=10)
    assert put.status_code == 200, put.text
    done = requests.post(
        server.url + "/api/edge/media/finalize",
        headers=headers,
        json={"object_name": target["object_name"]},
        timeout=10,
    )
    assert done.status_code == 201, done.text


def test_device_media_tab_shows_a_photo_the_device_sent(
    browser: Any, server: ServerProcess, device: Any
) -> None:
    send_photo(server, device, "gate.png")
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/devices/web-e2e-1?tab=media")
    image = page.get_by_test_id("media").locator("img").first
    image.wait_for()
    page.wait_for_function("() => document.querySelector('[data-testid=media] img').naturalWidth === 2")
    assert "gate.png" in page.get_by_test_id("media").inner_text()
    watched.assert_clean()


def test_media_page_lists_the_fleets_photos_and_previews_one(
    browser: Any, server: ServerProcess, device: Any
) -> None:
    send_photo(server, device, "yard.png")
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/media")
    grid = page.get_by_test_id("media")
    grid.locator("figure", has_text="yard.png").first.wait_for()
    assert "web-e2e-1" in grid.locator("figure", has_text="yard.png").first.inner_text()
    grid.locator("figure", has_text="yard.png").first.locator("img").click()
    preview = page.get_by_test_id("media-preview")
    preview.get_by_text("from web-e2e-1").wait_for()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=media-preview] img').naturalWidth === 2"
    )
    screenshot(watched, "media")
    page.get_by_role("button", name="close preview").click()
    preview.wait_for(state="detached")
    page.fill("input[name=device]", "nobody-here")
    page.get_by_role("button", name="filter").click()
    page.get_by_text("Device nobody-here has sent no photo or video.").wait_for()
    watched.assert_clean()


# -- the other pages, each with real data -----------------------------------------------------------------


def test_trends_page_charts_ingestions_drift_and_expectations(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/trends?bucket=day&dataset=parcels")
    page.get_by_test_id("trend-totals").get_by_text("ingestions").wait_for()
    page.get_by_test_id("drift-totals").get_by_text("event(s)").wait_for()  # its own API call
    assert int(page.get_by_test_id("drift-totals").inner_text().split()[0]) >= 1  # parcels_type_change.csv
    page.get_by_test_id("expectation-trends").get_by_text("expect_column_values_to_be_unique").wait_for()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=chart] canvas').length >= 3")
    screenshot(watched, "trends")
    watched.assert_clean()


def test_trends_of_one_device_show_its_pass_rates_and_schemas(
    browser: Any, server: ServerProcess, device: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/trends?bucket=day&dataset=edge_telemetry&device=web-e2e-1")
    page.get_by_text("Expectation pass rates of web-e2e-1's files").wait_for()
    page.get_by_test_id("expectation-trends").locator("tbody tr").first.wait_for()
    schemas = page.get_by_test_id("device-schemas")
    schemas.get_by_text("web-e2e-1").wait_for()
    watched.assert_clean()


def test_products_page_lists_the_parcels_mart_with_its_freshness(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/products")
    products = page.get_by_test_id("products")
    products.get_by_text("mart_parcel_sales_by_month").wait_for()
    marts = api(server, "GET", "/api/marts")["items"]
    (mart,) = [m for m in marts if m["name"] == "parcel_sales_by_month"]
    assert mart["freshness"]["status"] == "fresh"  # parcels loaded minutes ago; warn_after is 7 days
    row = products.get_by_role("row").filter(has_text="mart_parcel_sales_by_month").inner_text()
    assert "fresh" in row and "parcels" in row, row
    screenshot(watched, "products")
    watched.assert_clean()


def test_audit_page_filters_by_action(browser: Any, server: ServerProcess, demo: Any) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/audit?action=ingestion.registered")
    table = page.get_by_test_id("audit")
    table.get_by_text("ingestion.registered").first.wait_for()
    actions = {row.strip() for row in table.locator("tbody td:nth-child(3)").all_inner_texts()}
    assert actions == {"ingestion.registered"}
    screenshot(watched, "audit")
    watched.assert_clean()


def test_ops_page_shows_readiness_and_runs_a_prune_dry_run(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/ops")
    page.get_by_test_id("readiness").get_by_text("database ok").wait_for()
    page.get_by_role("button", name="dry run").click()
    page.get_by_test_id("outcome").get_by_text("dry run: would delete 0 ingestion(s)").wait_for()
    screenshot(watched, "ops")
    watched.assert_clean()


def test_ops_page_shows_runtime_configuration_without_secrets_and_table_sizes(
    browser: Any, server: ServerProcess, demo: Any
) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/#/ops")
    config = page.get_by_test_id("runtime-config")
    config.locator("tr", has_text="api_tokens").get_by_text("[redacted]").wait_for()
    assert config.locator("tr", has_text="auth_disabled").inner_text().split() == ["auth_disabled", "false"]
    assert TEST_TOKEN_SHA256 not in config.inner_text() and TEST_TOKEN not in page.content()
    sizes = page.get_by_test_id("database-sizes")
    sizes.locator("tr", has_text="public.curated_parcels").wait_for()
    assert "public.ingestions" in sizes.inner_text()
    assert "tables," in page.get_by_test_id("database-total").inner_text()
    screenshot(watched, "ops")
    watched.assert_clean()


def test_pages_are_reachable_by_keyboard(browser: Any, server: ServerProcess, demo: Any) -> None:
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/")
    page.get_by_test_id("total-ingestions").wait_for()
    for _ in range(12):  # brand, then the navigation links, in order
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Ingestions":
            break
    else:
        pytest.fail("Tab never reached the Ingestions link")
    page.keyboard.press("Enter")
    page.get_by_role("heading", level=1, name="Ingestions").wait_for()
    page.get_by_test_id("ingestions").locator("tbody tr").first.wait_for()
    watched.assert_clean()


@pytest.mark.parametrize("path", ["/#/ingestions", "/#/devices", "/#/trends?dataset=parcels"])
def test_on_a_phone_the_page_never_scrolls_sideways(
    browser: Any, server: ServerProcess, demo: Any, path: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(f"sessionStorage.setItem('eventpulse.token', {TEST_TOKEN!r})")
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(server.url + path)
    page.locator("main table, main [data-testid=chart]").first.wait_for()
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{path} is {widths[0]} px wide on a {widths[1]} px screen"
    watched.assert_clean()
    context.close()


def test_api_reference_is_served_from_the_bundle(browser: Any, server: ServerProcess) -> None:
    watched = open_page(browser, server, token=None)
    page = watched.page
    page.goto(server.url + "/api/docs")
    page.locator('[data-path="/api/ingestions"]').first.wait_for()
    assert all(url.startswith(server.url) for url in watched.urls), watched.urls
    watched.assert_clean()


def test_dashboard_quick_action_seeds_demo_data(browser: Any, server: ServerProcess, demo: Any) -> None:
    """Last in the module: it adds ingestions the counts of the earlier tests do not expect."""
    watched = open_page(browser, server)
    page = watched.page
    page.goto(server.url + "/")
    page.get_by_role("button", name="seed edge_telemetry").click()
    page.get_by_test_id("outcome").get_by_text(
        "seeded edge_telemetry: 2 ingestion(s), 1000 rows queued"
    ).wait_for()
    seeded = api(server, "GET", "/api/ingestions", params={"dataset": "edge_telemetry", "source": "demo"})
    assert seeded["total"] == 2
    watched.assert_clean()

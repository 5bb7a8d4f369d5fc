"""The GCS emulator's CORS (emulators/gcs_preconditions.py): a browser's signed PUT as the bucket rule allows.

fake-gcs-server refuses the preflight of a signed upload's ``x-goog-*`` headers and answers every
request with ``Access-Control-Allow-Origin: *``; the precondition proxy plays the bucket's CORS rule
instead, so a wrong origin fails locally as it would on GCS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.gcs import EmulatorError, GcsEmulator
from emulators.gcs_preconditions import SIGNED_UPLOAD_HEADERS, CorsRule
from eventpulse.cloud import signed_url
from tests.gcs_emulator import storage_client

DASHBOARD = "http://127.0.0.1:8081"
BUCKET = "eventpulse-cors"


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcsEmulator]:
    gcs = GcsEmulator(bucket=BUCKET, cors=CorsRule(origins=(DASHBOARD,)))
    try:
        gcs.start()
    except EmulatorError as exc:
        pytest.fail(f"the GCS emulator did not start: {exc} (run `make install`)", pytrace=False)
    yield gcs
    gcs.stop()


def preflight(url: str, origin: str, headers: str = ",".join(SIGNED_UPLOAD_HEADERS)) -> requests.Response:
    return requests.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def signed_put(emulator: GcsEmulator, signer_file: Path) -> tuple[str, dict[str, str]]:
    from google.oauth2 import service_account

    headers = {"content-type": "text/csv", "x-goog-if-generation-match": "0", "x-goog-meta-source": "t"}
    blob = storage_client(emulator).bucket(BUCKET).blob(f"uploads/t/{uuid.uuid4().hex}.csv")
    credentials = service_account.Credentials.from_service_account_file(str(signer_file))  # type: ignore[no-untyped-call]
    url = blob.generate_signed_url(
        version="v4", expiration=timedelta(minutes=5), method="PUT", headers=headers, credentials=credentials
    )
    return str(url), headers


def test_the_emulators_cors_headers_are_the_ones_eventpulse_signs() -> None:
    assert SIGNED_UPLOAD_HEADERS == signed_url.SIGNED_UPLOAD_HEADERS


def test_a_preflight_from_the_dashboard_is_allowed_with_every_signed_header(emulator: GcsEmulator) -> None:
    answer = preflight(f"{emulator.endpoint}/{BUCKET}/uploads/t/a.csv?X-Goog-Signature=x", DASHBOARD)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == DASHBOARD
    allowed = {h.strip() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == set(SIGNED_UPLOAD_HEADERS)
    assert answer.headers["Access-Control-Allow-Methods"] == "PUT"


@pytest.mark.parametrize(
    ("origin", "headers"),
    [("http://127.0.0.1:9", ",".join(SIGNED_UPLOAD_HEADERS)), (DASHBOARD, "content-type,x-goog-acl")],
    ids=["another origin", "an unsigned header"],
)
def test_a_preflight_the_rule_does_not_allow_is_refused(
    emulator: GcsEmulator, origin: str, headers: str
) -> None:
    answer = preflight(f"{emulator.endpoint}/{BUCKET}/uploads/t/a.csv", origin, headers)
    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_the_put_and_its_412_carry_the_dashboards_origin_only(
    emulator: GcsEmulator, signer_file: Path
) -> None:
    url, headers = signed_put(emulator, signer_file)
    first = requests.put(url, data=b"a,b\n1,2\n", headers={**headers, "Origin": DASHBOARD}, timeout=10)
    assert first.status_code == 200, first.text
    assert first.headers["Access-Control-Allow-Origin"] == DASHBOARD  # not fake-gcs-server's "*"
    again = requests.put(url, data=b"other", headers={**headers, "Origin": DASHBOARD}, timeout=10)
    assert again.status_code == 412 and "PreconditionFailed" in again.text
    assert again.headers["Access-Control-Allow-Origin"] == DASHBOARD  # the page can read the 412
    stranger = requests.put(url, data=b"x", headers={**headers, "Origin": "http://evil.test"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_an_expired_signed_url_is_refused_as_gcs_does_and_stores_nothing(emulator: GcsEmulator) -> None:
    name = f"uploads/t/{uuid.uuid4().hex}.csv"
    query = (
        "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20200101T000000Z&X-Goog-Expires=900&X-Goog-Signature=0"
    )
    answer = requests.put(
        f"{emulator.endpoint}/{BUCKET}/{name}?{query}",
        data=b"a,b\n",
        headers={"content-type": "text/csv", "x-goog-if-generation-match": "0", "Origin": DASHBOARD},
        timeout=10,
    )
    assert answer.status_code == 400 and "<Code>ExpiredToken</Code>" in answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == DASHBOARD  # the page can read why
    assert storage_client(emulator).bucket(BUCKET).get_blob(name) is None


def test_without_a_rule_no_origin_may_put(signer_file: Any) -> None:
    gcs = GcsEmulator(bucket=BUCKET)
    try:
        gcs.start()
        answer = preflight(f"{gcs.endpoint}/{BUCKET}/uploads/t/a.csv", DASHBOARD)
        assert answer.status_code == 403 and "Access-Control-Allow-Origin" not in answer.headers
    finally:
        gcs.stop()

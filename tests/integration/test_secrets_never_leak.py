"""No secret in any log line or error body: admin and task tokens, the fleet enrol token, device tokens
(old and rotated), the pepper, and wrong tokens a caller sends, across enrolment, device uploads,
admin actions, refused calls and hostile bodies (real app and Postgres, JSON logs at DEBUG)."""

from __future__ import annotations

import hashlib

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.logs import configure_logging
from eventpulse.settings import ApiToken
from tests.conftest import TEST_TASK_TOKEN
from tests.integration.api_support import edge_csv

ENROLL_TOKEN = "leak-enroll-secret-8d1f"
PEPPER = "leak-pepper-secret-33ab"
ADMIN_TOKEN = "leak-admin-secret-a91c"
WRONG = "leak-wrong-secret-0c4e"


def test_no_secret_reaches_a_log_line_or_an_error_body(services, capsys, tmp_path) -> None:
    services.settings = services.settings.with_overrides(
        api_tokens=(
            ApiToken(name="ops", role="admin", sha256=hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()),
        ),
        device_token_pepper=PEPPER,
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
    )
    ENROLL_WINDOW._hits.clear()
    configure_logging("json", "DEBUG", project="leak-test")
    client = create_app(services).test_client()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Task-Token": TEST_TASK_TOKEN}
    bodies: list[str] = []

    def call(method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        response = client.open(path, method=method, **kwargs)
        bodies.append(response.get_data(as_text=True))
        return response

    enrolled = call(
        "POST",
        "/api/edge/enroll",
        json={"device_id": "leak-1", "enroll_fingerprint": "fp-leak0001"},
        headers={"X-Device-Enroll-Token": ENROLL_TOKEN},
    )
    first = enrolled.get_json()["device_token"]
    device = {"Authorization": f"Bearer {first}"}
    call("POST", "/api/edge/heartbeat", json={"battery_v": 3.9}, headers=device)
    call(
        "POST",
        "/api/edge/ingest/upload?dataset=edge_telemetry&filename=b.csv",
        data=edge_csv(tmp_path, seed=61).read_bytes(),
        headers={**device, "Content-Type": "application/octet-stream"},
    )
    rotated = call("POST", "/api/devices/leak-1/rotate", headers=admin).get_json()["device_token"]
    # Refused calls, each carrying a secret somewhere a careless log would print it.
    call("POST", "/api/edge/heartbeat", json={"battery_v": 3.9}, headers=device)  # the old token: 401
    call("GET", f"/api/ingestions?token={rotated}", headers={"Authorization": f"Bearer {WRONG}"})
    call("GET", f"/api/edge/media/local?token={WRONG}")
    call(
        "POST",
        "/api/edge/enroll",
        json={"device_id": "leak-2", "enroll_fingerprint": "fp-x"},
        headers={"X-Device-Enroll-Token": WRONG},
    )
    call(
        "POST",
        "/api/ingest/from_path",
        data=b'{"a":' * 5000,
        headers={**admin, "Content-Type": "application/json"},
    )
    call(
        "POST",
        "/api/edge/heartbeat",
        data=b"{" + ADMIN_TOKEN.encode(),
        headers={"Authorization": f"Bearer {rotated}", "Content-Type": "application/json"},
    )
    call("GET", "/api/ingestions", headers={"X-Device-Id": "leak-1", "X-Device-Token": rotated})

    written = capsys.readouterr().err
    assert written.count('"logger": "eventpulse.access"') >= 10, written[-2000:]
    for secret in (ENROLL_TOKEN, PEPPER, ADMIN_TOKEN, WRONG, TEST_TASK_TOKEN, first, rotated):
        assert secret not in written, f"a secret ({secret[:6]}...) reached the log"
    # The only bodies allowed to hold a device token are the ones that hand it out, once.
    for index, body in enumerate(bodies):
        handed_out = {0: first, 3: rotated}.get(index)
        for secret in (ENROLL_TOKEN, PEPPER, ADMIN_TOKEN, WRONG, TEST_TASK_TOKEN, first, rotated):
            if secret != handed_out:
                assert secret not in body, (index, body[:300])

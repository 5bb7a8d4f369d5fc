"""Shared arrangements of the edge upload and media tests: an app with device auth, enrolled devices."""

from __future__ import annotations

import hashlib
from typing import Any

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from tests.conftest import TEST_TOKEN

ENROLL_TOKEN = "fleet-enroll-secret"
PEPPER = "test-pepper"
ADMIN = {"Authorization": f"Bearer {TEST_TOKEN}"}


def build_client(services: Any, **overrides: Any) -> Any:
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper=PEPPER,
        **overrides,
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


def enrolled(client: Any, device_id: str) -> dict[str, str]:
    """The device's credential headers, after enrolling it."""
    answer = client.post(
        "/api/edge/enroll",
        json={"device_id": device_id, "enroll_fingerprint": f"fp-{device_id}-0000"},
        headers={"X-Device-Enroll-Token": ENROLL_TOKEN},
    )
    assert answer.status_code == 201, answer.get_json()
    return {"X-Device-Id": device_id, "X-Device-Token": answer.get_json()["device_token"]}

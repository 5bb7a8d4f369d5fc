"""``eventpulse serve`` in local mode opens device enrollment on a fresh data dir (issue 8).

``ensure_local_tokens`` makes a fleet enroll token and a device token pepper once under
``<data_dir>/secrets/``, accepts them, reuses them on the next start, and never prints the pepper;
enrollment with the file's token then works through the real app on the real Postgres registry.
"""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.cli.common import ensure_local_edge_secrets, ensure_local_tokens


def test_local_serve_creates_the_enroll_token_and_pepper_once_and_enrollment_works(
    services, settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not settings.edge_enroll_token_sha256 and settings.device_token_pepper is None
    first = ensure_local_tokens(settings)
    printed = capsys.readouterr().err
    token_file = settings.secrets_dir / "edge_enroll_token"
    pepper_file = settings.secrets_dir / "device_token_pepper"
    for path in (token_file, pepper_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(settings.secrets_dir).st_mode) == 0o700
    enroll_token, pepper = token_file.read_text().strip(), pepper_file.read_text().strip()
    assert len(enroll_token) >= 43 and len(pepper) >= 43 and enroll_token != pepper
    assert first.edge_enroll_token_sha256 == (hashlib.sha256(enroll_token.encode()).hexdigest(),)
    assert first.device_token_pepper == pepper
    assert str(token_file) in printed and str(pepper_file) in printed
    assert pepper not in printed and enroll_token not in printed
    assert not [p for p in settings.secrets_dir.iterdir() if p.name.endswith(".tmp")]  # no temp left

    again = ensure_local_tokens(settings)  # the next start reuses both files
    assert again.edge_enroll_token_sha256 == first.edge_enroll_token_sha256
    assert again.device_token_pepper == pepper and token_file.read_text().strip() == enroll_token

    services.settings = first
    ENROLL_WINDOW._hits.clear()
    client = create_app(services).test_client()
    body = {"device_id": "local-pi-1", "enroll_fingerprint": "fp-local-1"}
    enrolled = client.post("/api/edge/enroll", json=body, headers={"X-Device-Enroll-Token": enroll_token})
    assert enrolled.status_code == 201, enrolled.get_json()
    device_token = enrolled.get_json()["device_token"]
    assert (
        client.post("/api/edge/enroll", json=body, headers={"X-Device-Enroll-Token": "nope"}).status_code
        == 401
    )

    services.settings = again  # a restarted server (same pepper) still accepts the device's token
    restarted = create_app(services).test_client()
    ping = restarted.get("/api/edge/ping", headers={"Authorization": f"Bearer {device_token}"})
    assert ping.status_code == 200 and ping.get_json() == {"device_id": "local-pi-1"}


def test_configured_edge_secrets_are_kept_and_cloud_mode_creates_nothing(settings) -> None:
    configured = settings.with_overrides(edge_enroll_token_sha256=("ab" * 32,), device_token_pepper="set")
    assert ensure_local_edge_secrets(configured) is configured
    cloud = ensure_local_edge_secrets(settings.with_overrides(mode="cloud"))
    assert cloud.edge_enroll_token_sha256 == () and cloud.device_token_pepper is None
    assert not (settings.secrets_dir / "edge_enroll_token").exists()
    assert not (settings.secrets_dir / "device_token_pepper").exists()


def test_only_the_missing_edge_secret_is_created(settings) -> None:
    with_token = settings.with_overrides(edge_enroll_token_sha256=("cd" * 32,))
    made = ensure_local_edge_secrets(with_token)
    assert made.edge_enroll_token_sha256 == ("cd" * 32,) and made.device_token_pepper
    assert not (settings.secrets_dir / "edge_enroll_token").exists()
    assert (settings.secrets_dir / "device_token_pepper").read_text().strip() == made.device_token_pepper

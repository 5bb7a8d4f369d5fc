"""The answers `make verify-gcp` expects (infra/gcp.py PROBES) are what the real functions answer.

Each function of functions/ is driven through functions_framework's test client, on the settings it
gets in the cloud where they matter (secrets present or not) and real Postgres, with the probe's
exact request: a probe that expected a status the function does not give would report a healthy
deployment as broken, or a broken one as healthy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest

from eventpulse import runtime
from infra import gcp
from tests.conftest import REPO_ROOT, TEST_TASK_TOKEN_SHA256, TEST_TOKEN_SHA256

FUNCTIONS = REPO_ROOT / "functions"


def answer(name: str, probe: gcp.Probe) -> int:
    app = functions_framework.create_app(name, str(FUNCTIONS / name / "main.py"), "http")
    client = app.test_client()
    body = json.dumps(probe.body or {}) if probe.method == "POST" else None
    response = client.open(probe.path, method=probe.method, data=body, content_type="application/json")
    return response.status_code


@pytest.fixture
def cloud_like_env(services: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """What Terraform mounts that the probes depend on: tokens, the enroll digest and the pepper."""
    settings = services.settings
    env = {
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
        "EVENTPULSE_API_TOKEN_SHA256": TEST_TOKEN_SHA256,
        "EVENTPULSE_TASK_TOKEN_SHA256": TEST_TASK_TOKEN_SHA256,
        "EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256": hashlib.sha256(b"fleet-token-for-the-probe").hexdigest(),
        "EVENTPULSE_DEVICE_TOKEN_PEPPER": "pepper-for-the-probe",
        "EVENTPULSE_TRUSTED_PROXY_HOPS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    runtime.close_services()


@pytest.mark.parametrize(
    ("name", "probe"),
    [(name, probe) for name, probes in sorted(gcp.PROBES.items()) for probe in probes],
    ids=lambda v: v if isinstance(v, str) else f"{v.method} {v.path}",
)
def test_a_healthy_function_gives_the_answer_verify_expects(
    name: str, probe: gcp.Probe, cloud_like_env: dict[str, str]
) -> None:
    assert answer(name, probe) == probe.status, f"{name} {probe.method} {probe.path}: {probe.why}"


def test_verify_notices_an_enroll_function_without_its_secrets(
    cloud_like_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256")
    (probe,) = gcp.PROBES["edge_enroll"]
    assert answer("edge_enroll", probe) == 503  # not_configured: the probe (401) fails, as documented


def test_verify_notices_an_api_whose_database_does_not_answer(
    cloud_like_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:9/none")
    ready = next(p for p in gcp.PROBES["api"] if p.path == "/readyz")
    assert answer("api", ready) == 503

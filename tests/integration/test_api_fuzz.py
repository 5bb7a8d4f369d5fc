"""A bounded schemathesis run over the OpenAPI document, on the real app and Postgres, as an admin.

Every operation gets a few generated requests (valid and invalid ones); each response must not be a
5xx, must have a status the document declares, and must match the declared schema. Deterministic
(a fixed seed) and bounded: a few examples per operation, the slow coverage phase off.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from eventpulse.adapters.landing_fs import FilesystemLanding
from eventpulse.adapters.postgres.devices import PostgresDeviceRegistry
from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.adapters.postgres.store import PostgresStore
from eventpulse.api.app import create_app
from eventpulse.bootstrap import AppServices
from eventpulse.settings import ApiToken, Settings
from tests.conftest import TEST_TASK_TOKEN

FUZZ_TOKEN = "fuzz-admin-token"
HEADERS = {"Authorization": f"Bearer {FUZZ_TOKEN}", "X-Task-Token": TEST_TASK_TOKEN}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONFIG = {
    "seed": 20261126,
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}


def build_document() -> dict:
    """The document of the real routes, built without a database (generating it touches none)."""
    settings_ = Settings(
        data_dir=Path("/nonexistent"), database_url="postgresql+pg8000://postgres@127.0.0.1:1/none"
    )
    store = PostgresStore(build_engine(str(settings_.database_url)))
    services = AppServices(
        settings=settings_,
        store=store,
        landing=FilesystemLanding(settings_.raw_dir, settings_.tmp_dir),
        devices=PostgresDeviceRegistry(store.engine),
    )
    try:
        return create_app(services).test_client().get("/api/openapi.json").get_json()
    finally:
        store.close()


loaded = schemathesis.openapi.from_dict(build_document(), config=SchemathesisConfig.from_dict(CONFIG))
# Excluded on purpose: every valid call generates and loads up to 100,000 demo rows (about 5 s each
# on two cores). Its auth is in test_auth_matrix.py, its parameters in test_api_ingest.py.
schema = loaded.exclude(path="/api/demo/seed/{dataset}")


@pytest.fixture
def fuzz_app(services):  # type: ignore[no-untyped-def]
    token = ApiToken(name="fuzz", role="admin", sha256=hashlib.sha256(FUZZ_TOKEN.encode()).hexdigest())
    services.settings = services.settings.with_overrides(
        api_tokens=(token,), device_token_pepper="fuzz-pepper", edge_enroll_token_sha256=("0" * 64,)
    )
    return create_app(services)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx_or_outside_its_declared_responses(case, fuzz_app) -> None:
    case.call_and_validate(app=fuzz_app, headers=HEADERS, checks=CHECKS)


ROLE_TOKENS = {role: f"fuzz-{role}-token" for role in ("viewer", "operator")}


@pytest.fixture(params=sorted(ROLE_TOKENS))
def role_app(request, services):  # type: ignore[no-untyped-def]
    """The app with a token of each role below admin: refusals must be declared 401/403, never 5xx."""
    tokens = tuple(
        ApiToken(name=f"fuzz-{role}", role=role, sha256=hashlib.sha256(token.encode()).hexdigest())
        for role, token in ROLE_TOKENS.items()
    )
    services.settings = services.settings.with_overrides(
        api_tokens=tokens, device_token_pepper="fuzz-pepper", edge_enroll_token_sha256=("0" * 64,)
    )
    return create_app(services), {"Authorization": f"Bearer {ROLE_TOKENS[request.param]}"}


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx_or_undeclared_for_a_viewer_or_an_operator(case, role_app) -> None:
    app, headers = role_app
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)

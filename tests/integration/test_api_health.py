"""Liveness and readiness: /readyz is 503 (in the envelope) when the database does not answer."""

from __future__ import annotations

from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.adapters.postgres.store import PostgresStore
from eventpulse.api.app import create_app
from eventpulse.bootstrap import AppServices


def test_health_and_readyz_when_the_database_answers(services) -> None:
    client = create_app(services).test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(services) -> None:
    dead = AppServices(
        settings=services.settings,
        store=PostgresStore(build_engine("postgresql+pg8000://postgres@127.0.0.1:1/none")),
        landing=services.landing,
        devices=services.devices,
    )
    dead.queue = services.queue
    client = create_app(dead).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"
    assert client.get("/health").status_code == 200
    dead.store.close()

"""The pool pings a connection only after it sat idle (``engine.ping_when_idle``), on real Postgres."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.adapters.postgres import engine as engine_module
from eventpulse.adapters.postgres.engine import build_engine

IDLE = 0.3


@pytest.fixture
def pings() -> list[float]:
    """When the engine's dialect pinged a connection."""
    return []


@pytest.fixture
def engine(database_url: str, monkeypatch: pytest.MonkeyPatch, pings: list[float]) -> Any:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", IDLE)
    built = build_engine(database_url, pool_size=1)
    real_ping = built.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(time.monotonic())
        return real_ping(dbapi_connection)

    monkeypatch.setattr(built.dialect, "do_ping", counted)
    yield built
    built.dispose()


def backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(engine: Any, pings: list[float]) -> None:
    first = backend_pid(engine)  # a new connection: made just now, not pinged
    pids = [backend_pid(engine) for _ in range(5)]
    assert pids == [first] * 5, "the pool reused its one connection"
    assert pings == [], "a connection handed back under a second ago was pinged"
    time.sleep(IDLE + 0.1)
    assert backend_pid(engine) == first
    assert len(pings) == 1, "a connection idle past the threshold was not pinged"


def test_a_session_the_server_ended_while_idle_is_replaced_before_use(
    engine: Any, database_url: str, pings: list[float]
) -> None:
    first = backend_pid(engine)
    other = build_engine(database_url, pool_size=1)
    try:
        with other.begin() as conn:  # what a restart or an idle-session cut does to a pooled session
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    finally:
        other.dispose()
    time.sleep(IDLE + 0.1)
    replaced = backend_pid(engine)  # no error reaches the caller: the ping failed, the pool reconnected
    assert replaced != first
    assert len(pings) == 1

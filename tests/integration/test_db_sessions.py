"""The engine's sessions on real Postgres: a fork holds none of them, an abandoned transaction ends."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
import pytest
from sqlalchemy import text

from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.bootstrap import build_services
from tests.helpers import wait_until


def _holds_socket(local_port: int) -> bool:
    """True when this process has a socket bound to ``local_port`` (the client end of a session)."""
    return any(c.laddr and c.laddr.port == local_port for c in psutil.Process().net_connections("inet"))


def test_a_forked_child_keeps_no_socket_of_the_parents_sessions_and_leaves_them_working(
    database_url: str,
) -> None:
    engine = build_engine(database_url, pool_size=2)
    try:
        with engine.connect() as conn:
            backend, client_port = conn.execute(
                text("SELECT pid, client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            ).one()
        assert _holds_socket(client_port)  # the pooled session, checked in

        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what it holds, then leave without any cleanup
            try:
                os.write(write, b"1" if _holds_socket(client_port) else b"0")
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as report:
            held_by_child = report.read()
        os.waitpid(pid, 0)

        assert held_by_child == "0"
        with engine.connect() as conn:  # the parent's session survived the child untouched
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == backend
    finally:
        engine.dispose()


def test_every_session_starts_with_the_idle_in_transaction_timeout(services: Any) -> None:
    assert services.settings.db_idle_in_transaction_timeout_seconds == 60.0
    with services.store.engine.connect() as conn:
        assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one() == "1min"


@pytest.mark.slow
def test_a_transaction_left_idle_is_ended_and_its_locks_released(settings: Any) -> None:
    services = build_services(settings.with_overrides(db_idle_in_transaction_timeout_seconds=1.0))
    other = build_engine(str(settings.database_url), pool_size=1)  # no timeout: the waiting side
    try:
        abandoned = services.store.engine.connect()
        backend = abandoned.execute(text("SELECT pg_backend_pid()")).scalar_one()
        abandoned.execute(text("SELECT pg_advisory_xact_lock(4242)"))  # held until the transaction ends
        started = time.monotonic()
        with other.connect() as conn:
            conn.execute(text("SET lock_timeout = '20s'"))
            conn.execute(text("SELECT pg_advisory_xact_lock(4242)"))  # waits for the abandoned one
            waited = time.monotonic() - started
        assert waited < 10, f"the idle transaction held its lock for {waited:.1f}s"

        def session_gone() -> bool:  # its locks go first; the backend leaves pg_stat_activity as it exits
            with other.connect() as conn:
                pids = conn.execute(text("SELECT pid FROM pg_stat_activity")).scalars().all()
            return backend not in pids

        wait_until(
            session_gone, "the server to end the abandoned session, not just its transaction", timeout=10
        )
        abandoned.invalidate()
    finally:
        services.close()
        other.dispose()


def test_every_tcp_session_sends_without_nagle_delay(database_url: str) -> None:
    import socket

    engine = build_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            sock = conn.connection.dbapi_connection._usock  # type: ignore[union-attr]
            assert conn.execute(text("SELECT 1")).scalar() == 1
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            pytest.fail(f"the test database is not reached over TCP ({database_url}): nothing to check")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        engine.dispose()

"""The engine's sessions on real Postgres: a forked child holds none of them."""

from __future__ import annotations

import os

import psutil
from sqlalchemy import text

from eventpulse.adapters.db import build_engine


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

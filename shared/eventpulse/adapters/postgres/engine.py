"""The database engine: one pooled SQLAlchemy engine on the pg8000 driver, built once per process."""

from __future__ import annotations

import gc
import os
import socket
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, event, exc, make_url, text

from eventpulse.adapters.postgres.cloudsql import CloudSqlTarget, build_creator

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Every engine this process built, so that a forked child can drop their pools."""

PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle at least this long is pinged before use (``ping_when_idle``)."""
_LAST_USED = "eventpulse.last_used"


def normalize_database_url(url: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` or ``postgresql+pg8000://`` and return the pg8000 form."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql", "postgresql+pg8000"):
        return urlunsplit(("postgresql+pg8000", *parts[1:]))
    raise ValueError(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported; use postgresql://user@host:port/dbname"
    )


def build_engine(
    url: str,
    *,
    pool_size: int = 5,
    idle_in_transaction_timeout_seconds: float = 0,
    cloudsql: CloudSqlTarget | None = None,
    connector_factory: Callable[..., Any] | None = None,
    role: str | None = None,
) -> Engine:
    """A pooled engine; a connection idle for a second or more is pinged first (``ping_when_idle``).

    With ``idle_in_transaction_timeout_seconds`` the server ends any session of this engine that
    leaves a transaction open and idle that long, so a transaction whose process died (or hung)
    cannot hold its locks for longer. It travels in the startup packet: no extra round trip.

    With ``cloudsql``, connections come from the Cloud SQL Python connector (``cloudsql.py``): the
    URL's user and database are used, its host is ignored. ``connector_factory`` replaces Google's
    connector (tests).

    With ``role`` every session starts as that role (``db_role``: the owner shared by IAM users).
    """
    connect_args = build_connect_args(idle_in_transaction_timeout_seconds, role)
    pooling: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_recycle": 1800,
    }
    if cloudsql is None:
        engine = create_engine(normalize_database_url(url), connect_args=connect_args, **pooling)
    else:
        parts = make_url(normalize_database_url(url))
        creator = build_creator(
            cloudsql,
            user=parts.username or "",
            database=parts.database or "postgres",
            password=parts.password,
            connect_args=connect_args,
            connector_factory=connector_factory,
        )
        # The creator holds the connector, which refreshes certificates on a thread of its own for as
        # long as the process lives (closing it on dispose would also run in a forked child, which
        # does not have that thread).
        engine = create_engine("postgresql+pg8000://", creator=creator, **pooling)
    event.listen(engine, "connect", disable_nagle)
    event.listen(engine, "connect", remember_use)
    event.listen(engine, "checkin", remember_use)
    event.listen(engine, "checkout", ping_when_idle(engine))
    _engines.add(engine)
    return engine


def remember_use(_dbapi_connection: Any, record: Any) -> None:
    """When the connection was made or last handed back (kept in the pool record's ``info``)."""
    record.info[_LAST_USED] = time.monotonic()


def ping_when_idle(engine: Engine) -> Callable[[Any, Any, Any], None]:
    """A checkout hook: ping a connection idle at least ``PING_AFTER_IDLE_SECONDS``, else hand it out.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip (and, on pg8000, a BEGIN)
    per transaction, about a fifth of a device upload's time under load (docs/BENCHMARKS.md). A
    connection handed back less than a second ago was working then; one the server dropped since (a
    restart, a network cut) has always been idle longer than that, because a restart takes longer, so
    it is pinged. A failed ping raises ``DisconnectionError``: the pool then discards that connection
    and checks out another (SQLAlchemy's documented pessimistic-disconnect hook), as pre-ping did.
    """

    def hook(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"the pooled connection is gone: {error}") from error
        if not alive:
            raise exc.DisconnectionError("the pooled connection did not answer a ping")

    return hook


def disable_nagle(dbapi_connection: Any, _record: Any = None) -> None:
    """Send each message at once (TCP_NODELAY), as libpq does; pg8000 leaves Nagle's algorithm on.

    Measured on loopback: with Nagle on, a statement whose message pg8000 writes in more than one
    piece (a few KB of JSON artifacts, the end of a COPY) waits for the server's delayed ACK, 40 ms,
    instead of 3-5 ms: about one statement in two of an ingestion's finish did (docs/BENCHMARKS.md).
    A Unix-domain socket has no such option and is left alone.
    """
    sock = getattr(dbapi_connection, "_usock", None)  # pg8000's socket, the only place it is kept
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def build_connect_args(idle_in_transaction_timeout_seconds: float, role: str | None = None) -> dict[str, Any]:
    """pg8000 connect arguments: the session settings every connection starts with.

    ``role`` is the server's ``role`` setting, which the startup packet may carry like any other:
    the session is then ``SET ROLE``'d at login, and a login user that is not a member is refused.
    """
    params = {}
    if idle_in_transaction_timeout_seconds > 0:
        millis = max(1, round(idle_in_transaction_timeout_seconds * 1000))
        params["idle_in_transaction_session_timeout"] = str(millis)
    if role:
        params["role"] = role
    return {"startup_params": params} if params else {}


def forget_inherited_connections() -> None:
    """In a forked child: drop the parent's pooled connections without touching them.

    A child (RQ's scheduler, any ``os.fork``) inherits the sockets of the parent's sessions. If it
    kept them, a killed parent's transaction would stay open with its locks for as long as the child
    lives, because the server sees no disconnect; if it used or closed them through the driver, it
    would corrupt or end the parent's sessions. ``dispose(close=False)`` is SQLAlchemy's documented
    way to give the child a fresh, empty pool. The dropped connections sit in reference cycles, so
    only a collection frees them: it closes their sockets in the child alone (closing an inherited
    descriptor sends nothing to the server), now rather than at some later collection.
    """
    engines = list(_engines)
    for engine in engines:
        engine.dispose(close=False)
    if engines:
        gc.collect()


os.register_at_fork(after_in_child=forget_inherited_connections)


def is_reachable(engine: Engine) -> bool:
    """True when a trivial query succeeds (the readiness probe)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False

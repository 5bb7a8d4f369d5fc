"""Which driver errors mean the database connection went away (a restart, a failover, a network cut)."""

from __future__ import annotations

import pg8000.exceptions
from sqlalchemy.exc import DBAPIError

from eventpulse.adapters.postgres.refusals import sqlstate_of

SHUTDOWN_CODES = frozenset({"57P01", "57P02", "57P03"})
"""admin_shutdown, crash_shutdown, cannot_connect_now: the server went away or is not back yet."""


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, pg8000.exceptions.InterfaceError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError | pg8000.exceptions.DatabaseError):
        code = sqlstate_of(exc)
        return code.startswith("08") or code in SHUTDOWN_CODES  # 08: connection exceptions
    return False


def connection_lost(exc: BaseException) -> bool:
    """True when ``exc``, or an error it was raised from, says the database connection went away."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        if _lost(current):
            return True
        seen.add(id(current))
        orig = getattr(current, "orig", None)  # the driver's error under SQLAlchemy's wrapper
        todo += [current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None]
    return False

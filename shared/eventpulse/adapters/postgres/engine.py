"""The database engine: one pooled SQLAlchemy engine on the pg8000 driver, built once per process."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, text


def normalize_database_url(url: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` or ``postgresql+pg8000://`` and return the pg8000 form."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql", "postgresql+pg8000"):
        return urlunsplit(("postgresql+pg8000", *parts[1:]))
    raise ValueError(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported; use postgresql://user@host:port/dbname"
    )


def build_engine(url: str, *, pool_size: int = 5) -> Engine:
    """A pooled engine; ``pool_pre_ping`` replaces connections the server closed."""
    return create_engine(
        normalize_database_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def is_reachable(engine: Engine) -> bool:
    """True when a trivial query succeeds (the readiness probe)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False

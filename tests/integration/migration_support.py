"""An empty database of a test's own, for migration tests that must run the revisions from the start.

``engine = empty_database_engine()`` at a module's top gives it the fixture ``engine``: a SQLAlchemy
engine on a fresh database (no revision applied), dropped after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url


def empty_database_engine() -> Callable[..., Any]:
    @pytest.fixture
    def engine(postgres_admin_url: str) -> Iterator[Engine]:
        name = f"eventpulse_migrate_{uuid.uuid4().hex[:8]}"
        admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(make_url(postgres_admin_url).set(database=name))
        yield engine
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return engine

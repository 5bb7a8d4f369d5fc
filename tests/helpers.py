"""Small test helpers that drive the real pipeline (no fakes)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from eventpulse.landing.register import register_path

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    what: str,
    *,
    timeout: float = 60.0,
    interval: float = 0.05,
    process: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
    describe: Callable[[], object] | None = None,
) -> T:
    """Poll ``predicate`` until it returns a truthy value, and return that value.

    The test fails, naming ``what``, when ``timeout`` seconds pass first, or at once when ``process``
    exits before the predicate holds; the message adds ``describe()`` (else the last value) and the
    tail of ``log``.
    """
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(
                f"{_process_name(process)} exited with {process.returncode} while waiting for {what}"
                + _failure_context(value, describe, log)
            )
        if time.monotonic() >= end:
            pytest.fail(
                f"timed out after {timeout:g}s waiting for {what}" + _failure_context(value, describe, log)
            )
        time.sleep(interval)


def _process_name(process: subprocess.Popen[Any]) -> str:
    args = process.args
    program = args[0] if isinstance(args, list | tuple) else args
    return f"process {process.pid} ({Path(str(program)).name})"


def _failure_context(value: object, describe: Callable[[], object] | None, log: Path | None) -> str:
    context = f"; state: {describe()!r}" if describe is not None else f"; last value: {value!r}"
    if log is not None and log.exists():
        context += "\n--- " + str(log) + " (tail) ---\n" + log.read_text(errors="replace")[-3000:]
    return context


def ingest(services: Any, path: Path, dataset: str, *, actor: str = "test") -> dict[str, Any]:
    """Register a file (the inline queue processes it synchronously) and return its final row."""
    registration = register_path(services, path=path, dataset=dataset, source="test", actor=actor)
    with services.store.read() as tx:
        row = tx.ingestions.get(registration.ingestion["id"])
    assert row is not None
    return row


def artifacts(services: Any, ingestion_id: Any) -> dict[str, Any]:
    with services.store.read() as tx:
        return tx.ingestions.artifacts(ingestion_id)


def set_contract_meta(contracts_dir: Path, dataset: str, **meta: Any) -> None:
    """Edit ``meta.eventpulse`` keys of a test's private contract copy."""
    path = contracts_dir / f"{dataset}.json"
    suite = json.loads(path.read_text())
    suite["meta"]["eventpulse"].update(meta)
    path.write_text(json.dumps(suite, indent=2))


def curated_count(services: Any, dataset: str, *, ingestion_id: Any = None) -> int:
    """Rows in the curated table (0 when it does not exist), optionally of one ingestion only."""
    with services.store.engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": f"curated_{dataset}"}).scalar()
        if exists is None:
            return 0
        sql = f'SELECT count(*) FROM "curated_{dataset}"'
        if ingestion_id is None:
            return int(conn.execute(text(sql)).scalar_one())
        return int(conn.execute(text(sql + " WHERE _ingestion_id = :i"), {"i": ingestion_id}).scalar_one())


def curated_columns(services: Any, dataset: str) -> dict[str, str]:
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = :t ORDER BY ordinal_position"
            ),
            {"t": f"curated_{dataset}"},
        ).all()
    return {r.column_name: r.data_type for r in rows}


def schema_versions(services: Any, dataset: str) -> int:
    with services.store.read() as tx:
        return len(tx.schemas.history(dataset))


class RecordingQueue:
    """A test double of the queue port only: it records deliveries and processes nothing."""

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []

    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        self.ids.append(ingestion_id)


def wait_for_query(services: Any, app_name: str, pattern: str, child: Any, log: Path) -> int:
    """Poll pg_stat_activity until a backend of ``child`` runs a query matching ``pattern``; its pid."""
    sql = text(
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = :app AND state = 'active' AND query ~* :pattern"
    )

    with services.store.engine.connect() as conn:  # one session: the kill window is milliseconds wide

        def running() -> int | None:
            pid = conn.execute(sql, {"app": app_name, "pattern": pattern}).scalar()
            conn.rollback()  # a fresh snapshot of pg_stat_activity on every poll
            return int(pid) if pid is not None else None

        return wait_until(
            running, f"the worker to run {pattern!r}", timeout=120, interval=0.002, process=child, log=log
        )


def backends_of(services: Any, app_name: str) -> list[str]:
    """The sessions of clients named ``app_name``, one line each (pid, state, query)."""
    sql = text("SELECT pid, state, query FROM pg_stat_activity WHERE application_name = :app")
    with services.store.engine.connect() as conn:
        return [f"backend {r.pid} {r.state}: {r.query}" for r in conn.execute(sql, {"app": app_name}).all()]


def wait_for_backends_gone(services: Any, app_name: str, timeout: float = 120) -> None:
    """A killed client's backend finishes its statement, then aborts: wait for it to leave."""
    wait_until(
        lambda: not backends_of(services, app_name),
        f"the backends of {app_name!r} to go away",
        timeout=timeout,
        describe=lambda: backends_of(services, app_name),
    )


def child_worker_env(settings: Any, *, app_name: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child worker process on the test's settings, as the CLI reads them.

    ``app_name`` tags its database sessions (pg_stat_activity.application_name) so a test can watch them.
    """
    url = make_url(str(settings.database_url))
    if app_name is not None:
        url = url.update_query_dict({"application_name": app_name})
    return {
        **os.environ,
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
        **extra,
    }

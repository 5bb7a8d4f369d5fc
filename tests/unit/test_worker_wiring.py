"""How the worker is wired: the queue adapter names its job by path; sessions carry their timeout."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rq.utils import import_attribute

from eventpulse.adapters.postgres.engine import build_connect_args
from eventpulse.adapters.queue_rq import JOB_FUNCTION
from eventpulse.settings import Settings, SettingsError

ADAPTERS = Path(__file__).resolve().parents[2] / "shared" / "eventpulse" / "adapters"
PROCESSING_SIDE = ("eventpulse.pipeline", "eventpulse.bootstrap", "eventpulse.runtime", "eventpulse.worker")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("adapter", ["queue_rq.py", "rq_worker.py"])
def test_the_rq_adapters_import_nothing_of_the_processing_side(adapter: str) -> None:
    imported = _imported_modules(ADAPTERS / adapter)
    assert not {m for m in imported if m.startswith(PROCESSING_SIDE)}


def test_the_enqueued_job_path_resolves_to_the_workers_job_function() -> None:
    from eventpulse import worker

    assert import_attribute(JOB_FUNCTION) is worker.run_job


def test_the_idle_in_transaction_timeout_is_read_in_seconds_and_sent_in_milliseconds() -> None:
    settings = Settings.from_mapping({"EVENTPULSE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "2.5"})
    assert settings.db_idle_in_transaction_timeout_seconds == 2.5
    assert build_connect_args(2.5) == {"startup_params": {"idle_in_transaction_session_timeout": "2500"}}
    assert build_connect_args(Settings().db_idle_in_transaction_timeout_seconds) == {
        "startup_params": {"idle_in_transaction_session_timeout": "60000"}
    }


def test_a_zero_idle_in_transaction_timeout_sends_no_session_setting() -> None:
    settings = Settings.from_mapping({"EVENTPULSE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "0"})
    assert build_connect_args(settings.db_idle_in_transaction_timeout_seconds) == {}


def test_a_negative_idle_in_transaction_timeout_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="EVENTPULSE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS"):
        Settings.from_mapping({"EVENTPULSE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "-1"})

"""How the worker is wired: the queue adapter names its job by path and imports no processing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rq.utils import import_attribute

from eventpulse.adapters.queue_rq import JOB_FUNCTION

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

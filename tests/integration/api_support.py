"""Helpers shared by the API, CLI and watcher tests: demo files and auth headers."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from eventpulse.demo.generator import Case, write_case
from tests.conftest import TEST_TASK_TOKEN, TEST_TOKEN

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
TASK_AUTH = {"X-Task-Token": TEST_TASK_TOKEN}


def edge_csv(tmp_path: Path, *, rows: int = 5, seed: int = 7, case: Case = "baseline") -> Path:
    """A small valid ``edge_telemetry`` CSV from the demo generator (distinct bytes per seed)."""
    out = tmp_path / f"gen-{seed}-{case}"
    return write_case("edge_telemetry", case, "csv", out, rows=rows, seed=seed)


def upload(
    client: FlaskClient,
    body: bytes,
    *,
    dataset: str = "edge_telemetry",
    filename: str = "t.csv",
    headers: dict[str, str] | None = None,
    **params: str,
):
    return client.post(
        "/api/ingest/upload",
        query_string={"dataset": dataset, "filename": filename, **params},
        data=body,
        headers={**AUTH, "Content-Type": "application/octet-stream", **(headers or {})},
    )

"""FAILED_READ is a final failure everywhere final or failed states are counted: CLI, API, jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import text

from eventpulse.api.app import create_app
from eventpulse.cli import main
from eventpulse.jobs.prune import prune_retention
from eventpulse.jobs.replay import replay_range
from eventpulse.states import Status
from tests.helpers import ingest
from tests.integration.api_support import AUTH

DATASET = "edge_telemetry"


def unreadable(services: Any, tmp_path: Path, name: str = "cut.json") -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(b'[{"event_id": "a", ')
    row = ingest(services, path, DATASET)
    assert row["status"] == Status.FAILED_READ, row["error"]
    return row


def test_the_cli_exits_1_for_an_unreadable_file_and_shows_what_to_send(services, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    s = services.settings
    env = {"EVENTPULSE_DATA_DIR": str(s.data_dir), "DATABASE_URL": str(s.database_url)}
    env["EVENTPULSE_CONTRACTS_DIR"] = str(s.contracts_dir)
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", DATASET, "--local"], env=env)
    assert result.exit_code == 1, result.output
    assert "status: FAILED_READ" in result.stdout
    assert "error: the file 'empty.csv' is empty (0 bytes)" in result.stderr and "hint: " in result.stderr


def test_the_api_filters_by_failed_read(services, tmp_path: Path) -> None:
    row = unreadable(services, tmp_path)
    client = create_app(services).test_client()
    page = client.get("/api/ingestions?status=failed_read", headers=AUTH).get_json()
    assert [item["id"] for item in page["items"]] == [str(row["id"])]
    assert client.get("/api/ingestions?status=FAILED_QUALITY", headers=AUTH).get_json()["total"] == 0


def test_replay_range_counts_a_replay_that_fails_read_as_failed(services, tmp_path: Path) -> None:
    original = unreadable(services, tmp_path)
    report = replay_range(services, dataset=DATASET, actor="test")
    ((failed_original, reason),) = report.failed
    assert failed_original == original["id"] and "ended FAILED_READ" in reason and "cut.json" in reason
    assert "failed 1" in report.summary()


def test_prune_deletes_old_unreadable_ingestions_as_final(services, tmp_path: Path) -> None:
    old = unreadable(services, tmp_path)
    with services.store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ingestions SET created_at = created_at - interval '40 days', "
                "updated_at = updated_at - interval '40 days'"
            )
        )
    report = prune_retention(services, older_than_days=30, actor="test", apply=True)
    assert [r["id"] for r in report.plan.ingestions] == [old["id"]]
    with services.store.read() as tx:
        assert tx.ingestions.get(old["id"]) is None

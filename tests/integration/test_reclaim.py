"""Reclaim re-delivers lost RECEIVED ingestions and retries FAILED_EXCEPTION ones with attempts left."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from eventpulse.cli import main
from eventpulse.landing.register import register_path
from eventpulse.pipeline.reclaim import ReclaimReport, reclaim_stale
from eventpulse.ports import NewIngestion
from eventpulse.states import Status
from tests.helpers import RecordingQueue, curated_count, wait_until
from tests.integration.api_support import edge_csv

DATASET = "edge_telemetry"


def _register_without_enqueue(services: Any, path: Path) -> uuid.UUID:
    """What a registering process leaves behind when it dies between its commit and the enqueue."""
    with path.open("rb") as stream:
        raw = services.landing.put_stream(DATASET, path.name, stream, max_bytes=None)
    new = NewIngestion(
        dataset=DATASET,
        filename=path.name,
        source="test",
        raw_key=raw.key,
        sha256=raw.sha256,
        size_bytes=raw.size_bytes,
        max_attempts=services.settings.max_attempts,
        created_by="test",
    )
    with services.store.transaction() as tx:
        row, created = tx.ingestions.register(new)
    assert created
    return uuid.UUID(str(row["id"]))


def _row(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def _reclaim_until(services: Any, predicate: Any, what: str) -> ReclaimReport:
    """Reclaim with a zero threshold until its report satisfies ``predicate`` (the clock must move on)."""
    reports: list[ReclaimReport] = []

    def attempt() -> ReclaimReport | None:
        reports.append(reclaim_stale(services, older_than_seconds=0))
        return reports[-1] if predicate(reports[-1]) else None

    return wait_until(attempt, what, timeout=15, describe=lambda: reports[-1])


def test_reclaim_enqueues_a_received_ingestion_that_was_never_enqueued(services, tmp_path: Path) -> None:
    orphan = _register_without_enqueue(services, edge_csv(tmp_path, rows=30))
    assert _row(services, orphan)["enqueued_at"] is None

    assert not reclaim_stale(services, older_than_seconds=3600)  # too young to be an orphan
    assert _row(services, orphan)["status"] == Status.RECEIVED

    report = _reclaim_until(services, bool, "reclaim to find the orphan")
    assert report == ReclaimReport(unqueued=(orphan,))
    row = _row(services, orphan)  # the inline queue processed it
    assert row["status"] == Status.LOADED, row["error"]
    assert row["enqueued_at"] is not None
    assert curated_count(services, DATASET, ingestion_id=orphan) == 30
    with services.store.read() as tx:
        events, _ = tx.audit.page(entity_id=str(orphan), action="ingestion.requeued")
    assert [(e["actor"], e["details"]) for e in events] == [("reclaim", {"reason": "delivery lost"})]
    assert not reclaim_stale(services, older_than_seconds=0)  # nothing left to do


def test_reclaim_redelivers_old_deliveries_and_leaves_finished_ingestions_alone(
    services, tmp_path: Path
) -> None:
    loaded = register_path(
        services, path=edge_csv(tmp_path, rows=5, seed=1), dataset=DATASET, source="test", actor="test"
    ).ingestion
    services.queue = recorder = RecordingQueue()
    waiting = register_path(
        services, path=edge_csv(tmp_path, rows=5, seed=2), dataset=DATASET, source="test", actor="test"
    ).ingestion
    assert recorder.ids == [waiting["id"]]  # handed over: it waits in the queue, RECEIVED
    orphan = _register_without_enqueue(services, edge_csv(tmp_path, rows=5, seed=3))

    assert not reclaim_stale(services, older_than_seconds=3600)  # a recent delivery is trusted

    # Older than the threshold, a delivery counts as lost (an in-process queue dies with its process);
    # delivering again is harmless because claiming is a compare-and-set.
    report = _reclaim_until(services, lambda r: len(r.unqueued) == 2, "reclaim to re-deliver both")
    assert set(report.unqueued) == {orphan, waiting["id"]} and not report.stale and not report.retried
    assert sorted(map(str, recorder.ids)) == sorted(map(str, [waiting["id"], waiting["id"], orphan]))
    assert _row(services, waiting["id"])["status"] == Status.RECEIVED
    assert _row(services, loaded["id"])["status"] == Status.LOADED


def test_cli_reclaim_reports_what_it_did(services, tmp_path: Path) -> None:
    settings = services.settings
    env = {
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
    }
    dead = _register_without_enqueue(services, edge_csv(tmp_path, rows=5, seed=4))
    with services.store.transaction() as tx:
        assert tx.ingestions.claim(dead, worker="dead-worker") is not None
    orphan = _register_without_enqueue(services, edge_csv(tmp_path, rows=5, seed=5))

    result = CliRunner().invoke(main, ["reclaim", "--older-than", "0"], env=env)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(str(dead) in ln and "stale claim" in ln and "now LOADED" in ln for ln in lines), result.output
    assert any(str(orphan) in ln and "delivery lost" in ln and "now LOADED" in ln for ln in lines)
    assert "released 1 stale claim(s), re-delivered 1 lost and retried 0 failed ingestion(s)" in result.output
    assert _row(services, dead)["attempts"] == 2

    nothing = CliRunner().invoke(main, ["reclaim"], env=env)  # default threshold: 120 s
    assert nothing.exit_code == 0 and "released 0 stale claim(s), re-delivered 0" in nothing.output
    assert CliRunner().invoke(main, ["reclaim", "--older-than", "-1"], env=env).exit_code == 2


def test_reclaim_retries_a_failed_attempt_while_attempts_are_left(services, tmp_path: Path) -> None:
    failed = _register_without_enqueue(services, edge_csv(tmp_path, rows=12, seed=6))
    with services.store.transaction() as tx:
        assert tx.ingestions.claim(failed, worker="flaky-worker") is not None
        assert tx.ingestions.transition(
            failed, expected=[Status.PROCESSING], target=Status.FAILED_EXCEPTION, actor="flaky-worker"
        )
    assert not reclaim_stale(services, older_than_seconds=3600)  # backs off until the failure is old

    report = _reclaim_until(services, lambda r: bool(r.retried), "reclaim to retry the failed attempt")
    assert report.retried == (failed,)
    row = _row(services, failed)
    assert row["status"] == Status.LOADED, row["error"]
    assert row["attempts"] == 2
    assert curated_count(services, DATASET, ingestion_id=failed) == 12


def _fail_attempts(services: Any, ingestion_id: uuid.UUID, attempts: int) -> None:
    with services.store.transaction() as tx:
        for _ in range(attempts):
            assert tx.ingestions.claim(ingestion_id, worker="w") is not None
            assert tx.ingestions.transition(
                ingestion_id, expected=[Status.PROCESSING], target=Status.FAILED_EXCEPTION, actor="w"
            )


def test_reclaim_does_not_retry_an_ingestion_without_attempts_left(services, tmp_path: Path) -> None:
    spent = _register_without_enqueue(services, edge_csv(tmp_path, rows=3, seed=7))
    _fail_attempts(services, spent, services.settings.max_attempts)
    # A control that failed later, with attempts left: once reclaim retries it, the spent one is old
    # enough to be retried too, so leaving it alone is the attempts rule, not its age.
    control = _register_without_enqueue(services, edge_csv(tmp_path, rows=3, seed=8))
    _fail_attempts(services, control, 1)

    report = _reclaim_until(services, lambda r: control in r.retried, "reclaim to retry the control")

    assert report.retried == (control,)
    assert _row(services, control)["status"] == Status.LOADED
    row = _row(services, spent)
    assert (row["status"], row["attempts"]) == (Status.FAILED_EXCEPTION, services.settings.max_attempts)
    assert spent not in reclaim_stale(services, older_than_seconds=0).ids

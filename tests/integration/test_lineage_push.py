"""Lineage you can send: START and COMPLETE/FAIL per ingestion, pushed to a real local receiver.

Every received event is validated against the OpenLineage 2-0-2 JSON schemas (see
``openlineage_spec/README.md`` for where they come from). A receiver that is down or failing never
fails an ingestion: its events wait in the outbox and a later flush or reclaim delivers them, in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.bootstrap import build_services
from eventpulse.demo.generator import write_case
from eventpulse.pipeline.lineage_push import PushReport, flush_lineage
from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.states import Status
from tests.helpers import artifacts, ingest, set_contract_meta, wait_until
from tests.integration.lineage_support import Receiver, receiver, spec_errors

API_KEY = "lineage-key-0123456789"
ROWS = 30


@contextmanager
def pushing_services(settings: Any, url: str) -> Iterator[Any]:
    """Services whose lineage goes to ``url`` (the ``services`` fixture has emptied the database)."""
    svc = build_services(
        settings.with_overrides(
            openlineage_url=url, openlineage_api_key=API_KEY, openlineage_timeout_seconds=2.0
        )
    )
    try:
        yield svc
    finally:
        svc.close()


def _case(tmp_path: Path, name: str, *, seed: int = 7) -> Path:
    return write_case("parcels", name, "csv", tmp_path / f"seed{seed}", rows=ROWS, seed=seed)


def _outbox(services: Any, ingestion_id: Any) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        return tx.lineage.events(ingestion_id)


def _make_due(services: Any) -> None:
    """Skip the back-off (30 s and more) instead of waiting for it."""
    with services.store.engine.begin() as conn:
        conn.execute(text("UPDATE lineage_outbox SET next_attempt_at = now() WHERE sent_at IS NULL"))


def _run_events(found: Receiver, ingestion_id: Any) -> list[dict[str, Any]]:
    return [e for e in found.events if e["run"]["runId"] == str(ingestion_id)]


def test_every_outcome_pushes_a_start_and_a_closing_event_that_match_the_spec(
    services: Any, settings: Any, contracts_dir: Path, tmp_path: Path
) -> None:
    with receiver() as found, pushing_services(settings, found.url) as svc:
        loaded = ingest(svc, _case(tmp_path, "baseline"), "parcels")
        bad_quality = ingest(svc, _case(tmp_path, "duplicate_pk"), "parcels")
        unreadable_path = tmp_path / "cut.json"
        unreadable_path.write_bytes(b'[{"parcel_id": "a", ')
        unreadable = ingest(svc, unreadable_path, "parcels")
        set_contract_meta(contracts_dir, "parcels", drift_policy={"type_changes": "fail"})
        drifted = ingest(svc, _case(tmp_path, "type_change", seed=8), "parcels")

        expected = {
            loaded["id"]: (Status.LOADED, "COMPLETE"),
            bad_quality["id"]: (Status.FAILED_QUALITY, "FAIL"),
            unreadable["id"]: (Status.FAILED_READ, "FAIL"),
            drifted["id"]: (Status.FAILED_DRIFT, "FAIL"),
        }
        rows = {loaded["id"]: loaded, bad_quality["id"]: bad_quality}
        rows |= {unreadable["id"]: unreadable, drifted["id"]: drifted}
        for ingestion_id, (status, closing) in expected.items():
            assert rows[ingestion_id]["status"] == status, rows[ingestion_id]["error"]
            events = _run_events(found, ingestion_id)
            assert [e["eventType"] for e in events] == ["START", closing]
            start, end = events
            assert start["inputs"][0]["name"] == end["inputs"][0]["name"]  # the raw file, both times
            assert start["run"]["facets"]["eventpulse_attempt"]["attempt"] == 1
            stored = artifacts(svc, ingestion_id)
            assert stored["lineage"]["eventType"] == closing and stored["lineage_start"] == start
            assert all(row["sent_at"] is not None for row in _outbox(svc, ingestion_id))

    assert len(found.received) == 8
    for got in found.received:
        assert got.path == "/api/v1/lineage"
        assert got.headers["Authorization"] == f"Bearer {API_KEY}"
        event = got.event
        assert spec_errors(event) == [], event["eventType"]
        uuid.UUID(event["run"]["runId"])
        assert datetime.fromisoformat(event["eventTime"]).tzinfo is not None
    completed = _run_events(found, loaded["id"])[1]
    assert completed["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == ROWS
    failed = _run_events(found, bad_quality["id"])[1]
    assert "errorMessage" in failed["run"]["facets"]


def test_the_validator_rejects_an_event_that_breaks_the_spec(
    services: Any, settings: Any, tmp_path: Path
) -> None:
    with receiver() as found, pushing_services(settings, found.url) as svc:
        ingest(svc, _case(tmp_path, "baseline"), "parcels")
    start, complete = found.events
    broken = {**start, "run": {"facets": start["run"]["facets"]}}  # no runId
    assert any("runId" in e for e in spec_errors(broken))
    facets = complete["outputs"][0]["facets"]
    bad_schema = {**facets["schema"], "fields": [{"type": "text"}]}  # a field without its name
    broken = {**complete, "outputs": [{**complete["outputs"][0], "facets": {**facets, "schema": bad_schema}}]}
    assert any("schema" in e and "name" in e for e in spec_errors(broken))


def test_receiver_down_never_fails_the_ingestion_and_a_later_flush_delivers_in_order(
    services: Any, settings: Any, tmp_path: Path
) -> None:
    with receiver(running=False) as found, pushing_services(settings, found.url) as svc:
        row = ingest(svc, _case(tmp_path, "baseline"), "parcels")
        assert row["status"] == Status.LOADED, row["error"]
        waiting = _outbox(svc, row["id"])
        assert [(w["event_type"], w["sent_at"]) for w in waiting] == [("START", None), ("COMPLETE", None)]
        assert waiting[0]["attempts"] == 1 and "Connection" in waiting[0]["last_error"]
        assert waiting[1]["attempts"] == 0  # never tried: it waits behind its START
        assert waiting[0]["next_attempt_at"] > waiting[0]["created_at"]  # backing off

        found.start()
        assert flush_lineage(svc).sent == 0  # still backing off: nothing is due yet
        _make_due(svc)
        report = flush_lineage(svc)
        assert (report.sent, report.failed, report.pending) == (2, 0, 0)
        assert [e["eventType"] for e in found.events] == ["START", "COMPLETE"]
        stored = artifacts(svc, row["id"])["lineage"]
        assert (
            found.events[1]["outputs"] == stored["outputs"]
            and found.events[1]["eventTime"] == stored["eventTime"]
        )
        assert all(spec_errors(e) == [] for e in found.events)


def test_a_failing_receiver_is_retried_by_reclaim_once_it_recovers(
    services: Any, settings: Any, tmp_path: Path
) -> None:
    with receiver() as found, pushing_services(settings, found.url) as svc:
        found.status = 500
        row = ingest(svc, _case(tmp_path, "baseline"), "parcels")
        assert row["status"] == Status.LOADED, row["error"]
        first = _outbox(svc, row["id"])[0]
        assert first["sent_at"] is None and "500" in first["last_error"]

        _make_due(svc)
        assert reclaim_stale(svc, actor="test").lineage.failed == 1  # still failing: tried again, kept
        assert _outbox(svc, row["id"])[0]["attempts"] == 2

        found.status = 200
        _make_due(svc)
        report = reclaim_stale(svc, actor="test")
        assert (report.lineage.sent, report.lineage.failed) == (2, 0)
        assert [e["eventType"] for e in found.events] == ["START", "COMPLETE"]
        assert all(w["sent_at"] is not None and w["last_error"] is None for w in _outbox(svc, row["id"]))


def test_without_a_url_the_events_are_artifacts_only_and_nothing_is_queued(
    services: Any, tmp_path: Path
) -> None:
    assert services.lineage_sink is None
    row = ingest(services, _case(tmp_path, "baseline"), "parcels")
    assert row["status"] == Status.LOADED
    stored = artifacts(services, row["id"])
    assert (stored["lineage_start"]["eventType"], stored["lineage"]["eventType"]) == ("START", "COMPLETE")
    assert _outbox(services, row["id"]) == []
    assert flush_lineage(services) == PushReport(sent=0, failed=0, pending=0)


def test_the_api_key_is_never_logged(
    services: Any, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")  # the client's own debug lines (its transport config) included
    with receiver(running=False) as found, pushing_services(settings, found.url) as svc:
        ingest(svc, _case(tmp_path, "baseline"), "parcels")
    assert "not pushed" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(svc.settings)


def test_a_retried_attempt_reports_start_fail_then_start_complete_under_one_run_id(
    services: Any, settings: Any, tmp_path: Path
) -> None:
    with receiver() as found, pushing_services(settings, found.url) as svc:
        good = ingest(svc, _case(tmp_path, "baseline"), "parcels")
        with svc.store.engine.begin() as conn:  # a constraint the next load breaks: a retryable failure
            conn.execute(
                text(
                    "ALTER TABLE curated_parcels ADD CONSTRAINT only_first "
                    f"CHECK (_ingestion_id = '{good['id']}') NOT VALID"
                )
            )
        row = ingest(svc, _case(tmp_path, "baseline", seed=9), "parcels")
        assert row["status"] == Status.FAILED_EXCEPTION
        with svc.store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE curated_parcels DROP CONSTRAINT only_first"))

        def retried() -> bool:
            reclaim_stale(svc, older_than_seconds=0, actor="test")
            with svc.store.read() as tx:
                again = tx.ingestions.get(row["id"])
            return again is not None and again["status"] == Status.LOADED

        wait_until(retried, "the failed attempt to be retried and loaded", timeout=15)
        events = _run_events(found, row["id"])
        assert [(e["eventType"], e["run"]["facets"]["eventpulse_attempt"]["attempt"]) for e in events] == [
            ("START", 1),
            ("FAIL", 1),
            ("START", 2),
            ("COMPLETE", 2),
        ]
        assert all(spec_errors(e) == [] for e in events)


def test_an_abandoned_claim_gets_its_fail_event_when_reclaim_releases_it(
    services: Any, settings: Any, tmp_path: Path
) -> None:
    with receiver() as found, pushing_services(settings, found.url) as svc:
        svc.queue = _NoQueue()  # the dead worker's ingestion is only released, not processed here
        row = ingest(svc, _case(tmp_path, "baseline"), "parcels")
        with svc.store.transaction() as tx:
            assert tx.ingestions.claim(row["id"], worker="dead-worker") is not None
        report = reclaim_stale(svc, older_than_seconds=0, actor="test")
        assert report.stale == (row["id"],)
        (event,) = _run_events(found, row["id"])
        assert event["eventType"] == "FAIL"
        assert "heartbeat went stale" in event["run"]["facets"]["errorMessage"]["message"]
        assert spec_errors(event) == []


class _NoQueue:
    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        pass


def test_cli_lineage_flush_exits_1_while_events_are_pending_and_0_once_delivered(
    services: Any, settings: Any, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from eventpulse.cli import main

    with receiver(running=False) as found, pushing_services(settings, found.url) as svc:
        ingest(svc, _case(tmp_path, "baseline"), "parcels")
        env = {
            "EVENTPULSE_DATA_DIR": str(settings.data_dir),
            "DATABASE_URL": str(settings.database_url),
            "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
            "EVENTPULSE_OPENLINEAGE_URL": found.url,
        }
        _make_due(svc)
        down = CliRunner().invoke(main, ["lineage", "flush"], env=env)
        assert down.exit_code == 1 and "0 pushed, 1 failed, 2 pending" in down.output, down.output

        found.start()
        _make_due(svc)
        up = CliRunner().invoke(main, ["lineage", "flush"], env=env)
        assert up.exit_code == 0 and "2 pushed, 0 failed, 0 pending" in up.output, up.output
        assert [e["eventType"] for e in found.events] == ["START", "COMPLETE"]

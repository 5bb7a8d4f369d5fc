"""The LineageOutbox port's behaviour (``tx.lineage``), one suite for every store adapter (Postgres today).

Each test speaks only the port: add in a transaction, lease what is due in order, record the outcome.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from eventpulse.ports import MetadataStore, NewIngestion


def _ingestion(store: MetadataStore) -> uuid.UUID:
    sha = uuid.uuid4().hex * 2
    new = NewIngestion(
        dataset="parcels",
        filename="f.csv",
        source="test",
        raw_key=f"parcels/{sha}.csv",
        sha256=sha,
        size_bytes=1,
        max_attempts=3,
        created_by="tester",
    )
    with store.transaction() as tx:
        row, _ = tx.ingestions.register(new)
    return uuid.UUID(str(row["id"]))


def _event(ingestion_id: uuid.UUID, event_type: str) -> dict[str, Any]:
    return {"eventType": event_type, "run": {"runId": str(ingestion_id)}, "job": {"name": "ingest.parcels"}}


def _lease(store: MetadataStore, **kwargs: Any) -> list[Any]:
    with store.transaction() as tx:
        return tx.lineage.lease_due(limit=kwargs.pop("limit", 100), lease_seconds=60, **kwargs)


def test_an_event_added_in_a_rolled_back_transaction_does_not_exist(store: MetadataStore) -> None:
    ingestion = _ingestion(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.lineage.add(ingestion, _event(ingestion, "START"))
        raise RuntimeError("the state change failed")
    with store.read() as tx:
        assert tx.lineage.events(ingestion) == [] and tx.lineage.count_pending() == 0


def test_only_the_oldest_unsent_event_of_an_ingestion_is_due(store: MetadataStore) -> None:
    first, second = _ingestion(store), _ingestion(store)
    with store.transaction() as tx:
        tx.lineage.add(first, _event(first, "START"))
        tx.lineage.add(second, _event(second, "START"))
        tx.lineage.add(first, _event(first, "COMPLETE"))
    leased = _lease(store)
    assert [(e.ingestion_id, e.event["eventType"]) for e in leased] == [(first, "START"), (second, "START")]
    assert all(e.attempts == 0 for e in leased)
    with store.transaction() as tx:
        tx.lineage.mark_sent(leased[0].id)
    (after,) = _lease(store)  # second's START is leased to someone else; first's COMPLETE is next
    assert (after.ingestion_id, after.event["eventType"]) == (first, "COMPLETE")


def test_a_leased_event_is_not_handed_to_another_sender(store: MetadataStore) -> None:
    ingestion = _ingestion(store)
    with store.transaction() as tx:
        tx.lineage.add(ingestion, _event(ingestion, "START"))
    assert len(_lease(store, ingestion_id=ingestion)) == 1
    assert _lease(store) == []


def test_a_failed_push_backs_off_and_holds_back_the_later_events(store: MetadataStore) -> None:
    ingestion = _ingestion(store)
    with store.transaction() as tx:
        tx.lineage.add(ingestion, _event(ingestion, "START"))
        tx.lineage.add(ingestion, _event(ingestion, "FAIL"))
    (start,) = _lease(store)
    with store.transaction() as tx:
        tx.lineage.mark_failed(start.id, error="ConnectionError: refused", retry_in_seconds=3600)
    assert _lease(store) == []  # START backs off, FAIL waits behind it
    with store.read() as tx:
        rows = tx.lineage.events(ingestion)
        assert tx.lineage.count_pending() == 2
    assert [(r["event_type"], r["attempts"], r["last_error"]) for r in rows] == [
        ("START", 1, "ConnectionError: refused"),
        ("FAIL", 0, None),
    ]
    assert rows[0]["next_attempt_at"] > rows[0]["created_at"]


def test_a_failed_push_is_due_again_once_its_back_off_is_over(store: MetadataStore) -> None:
    ingestion = _ingestion(store)
    with store.transaction() as tx:
        tx.lineage.add(ingestion, _event(ingestion, "START"))
    (start,) = _lease(store)
    with store.transaction() as tx:
        tx.lineage.mark_failed(start.id, error="HTTPError: 500", retry_in_seconds=0)
    (again,) = _lease(store)
    assert again.id == start.id and again.attempts == 1 and again.event == start.event
    with store.transaction() as tx:
        tx.lineage.mark_sent(again.id)
    with store.read() as tx:
        (row,) = tx.lineage.events(ingestion)
        assert tx.lineage.count_pending() == 0
    assert row["sent_at"] is not None and row["attempts"] == 2 and row["last_error"] is None


def test_the_limit_bounds_one_lease(store: MetadataStore) -> None:
    ingestions = [_ingestion(store) for _ in range(3)]
    with store.transaction() as tx:
        for ingestion in ingestions:
            tx.lineage.add(ingestion, _event(ingestion, "START"))
    assert [e.ingestion_id for e in _lease(store, limit=2)] == ingestions[:2]
    assert [e.ingestion_id for e in _lease(store, limit=2)] == ingestions[2:]

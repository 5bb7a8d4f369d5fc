"""The QuarantinedRows port's behaviour (``Transaction.quarantine``), one suite for every adapter.

Each test speaks only the port: add with one audit event, filters, keyset paging, locking,
resolving only held rows, updating failures, and that it all rides the store's transaction.
"""

from __future__ import annotations

import uuid

import pytest

from eventpulse.ports import (
    MetadataStore,
    NewIngestion,
    NewQuarantinedRow,
    QuarantineFilter,
    QuarantineOrigin,
)


def _ingestion(store: MetadataStore, dataset: str = "readings") -> uuid.UUID:
    sha = uuid.uuid4().hex * 2
    new = NewIngestion(
        dataset=dataset,
        filename="f.csv",
        source="test",
        raw_key=f"{dataset}/{sha}.csv",
        sha256=sha,
        size_bytes=10,
        max_attempts=2,
        created_by="tester",
    )
    with store.transaction() as tx:
        row, _ = tx.ingestions.register(new)
    return uuid.UUID(str(row["id"]))


def _origin(
    ingestion_id: uuid.UUID, dataset: str = "readings", device: str | None = None
) -> QuarantineOrigin:
    return QuarantineOrigin(ingestion_id, dataset, "", "v1", f"file:///raw/{ingestion_id}", device)


def _held(source_row: int, expectation: str = "expect_column_values_to_be_between") -> NewQuarantinedRow:
    failure = {"expectation_type": expectation, "kwargs": {"column": "value"}, "severity": "critical"}
    return NewQuarantinedRow(source_row, "expectation", [failure], {"value": str(source_row)})


def _add(store: MetadataStore, origin: QuarantineOrigin, rows: list[NewQuarantinedRow]) -> None:
    with store.transaction() as tx:
        assert tx.quarantine.add(origin, rows, actor="worker-1") == len(rows)


def test_added_rows_keep_every_field_and_one_audit_event(store: MetadataStore) -> None:
    ingestion = _ingestion(store)
    discarded = NewQuarantinedRow(3, "discard_row", [], {"note": "x"}, "discarded", "drift policy")
    _add(store, _origin(ingestion, device="dev-1"), [_held(2), discarded])

    with store.read() as tx:
        rows = tx.quarantine.page(QuarantineFilter(ingestion_id=ingestion), limit=10)
        events = tx.audit.page(entity_id=str(ingestion), action="quarantine.recorded").items
    assert [(r["source_row"], r["kind"], r["status"]) for r in rows] == [
        (2, "expectation", "held"),
        (3, "discard_row", "discarded"),
    ]
    held, gone = rows
    assert held["values"] == {"value": "2"} and held["failures"][0]["severity"] == "critical"
    assert (held["dataset"], held["contract_version"], held["device_id"]) == ("readings", "v1", "dev-1")
    assert held["raw_uri"] == f"file:///raw/{ingestion}" and held["resolved_at"] is None
    assert gone["resolved_by"] == "worker-1" and gone["resolution_reason"] == "drift policy"
    assert gone["resolved_at"] is not None
    assert len(events) == 1 and events[0]["details"]["rows"] == 2


def test_filters_combine_and_paging_is_keyset_by_id(store: MetadataStore) -> None:
    first, second = _ingestion(store), _ingestion(store, "other")
    _add(store, _origin(first), [_held(n) for n in range(1, 6)])
    _add(store, _origin(second, "other", "dev-9"), [_held(1, "expect_column_values_to_be_in_set")])

    with store.read() as tx:
        q = tx.quarantine
        page1 = q.page(QuarantineFilter(dataset="readings"), limit=2)
        page2 = q.page(QuarantineFilter(dataset="readings"), limit=2, after=page1[-1]["id"])
        page3 = q.page(QuarantineFilter(dataset="readings"), limit=2, after=page2[-1]["id"])
        in_set = q.page(QuarantineFilter(expectation="expect_column_values_to_be_in_set"), limit=10)
        by_device = q.page(QuarantineFilter(device_id="dev-9"), limit=10)
        total = q.count(QuarantineFilter(dataset="readings", status="held"))
        none = q.count(QuarantineFilter(dataset="readings", kind="discard_row"))
    rows = [r["source_row"] for r in page1 + page2 + page3]
    assert rows == [1, 2, 3, 4, 5] and len(page3) == 1
    assert [r["dataset"] for r in in_set] == ["other"] and by_device == in_set
    assert (total, none) == (5, 0)


def test_resolve_changes_only_held_rows(store: MetadataStore) -> None:
    ingestion, replay = _ingestion(store), _ingestion(store)
    _add(store, _origin(ingestion), [_held(1), _held(2)])
    with store.transaction() as tx:
        ids = [r["id"] for r in tx.quarantine.lock(QuarantineFilter(ingestion_id=ingestion), limit=10)]
        assert tx.quarantine.resolve(ids[:1], status="discarded", actor="op", reason="bad sensor") == 1
        # a row already resolved does not change again
        assert (
            tx.quarantine.resolve(ids, status="replayed", actor="op", reason=None, replay_ingestion_id=replay)
            == 1
        )

    with store.read() as tx:
        rows = tx.quarantine.page(QuarantineFilter(ingestion_id=ingestion), limit=10)
    assert [(r["status"], r["resolution_reason"]) for r in rows] == [
        ("discarded", "bad sensor"),
        ("replayed", None),
    ]
    assert rows[1]["replay_ingestion_id"] == replay and rows[1]["resolved_by"] == "op"


def test_update_failures_and_rollback(store: MetadataStore) -> None:
    ingestion = _ingestion(store)
    _add(store, _origin(ingestion), [_held(1)])
    with store.read() as tx:
        (row,) = tx.quarantine.page(QuarantineFilter(), limit=10)
    failure = {"expectation_type": "expect_column_values_to_be_in_set", "kwargs": {}, "severity": "warning"}
    with store.transaction() as tx:
        tx.quarantine.update_failures(row["id"], failures=[failure], contract_version="v2")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.quarantine.add(_origin(ingestion), [_held(7)], actor="w")
        raise RuntimeError("roll back")

    with store.read() as tx:
        rows = tx.quarantine.page(QuarantineFilter(), limit=10)
    assert [(r["source_row"], r["contract_version"]) for r in rows] == [(1, "v2")]
    assert rows[0]["failures"] == [failure] and rows[0]["status"] == "held"

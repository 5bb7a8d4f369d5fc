"""The MetadataStore port's behaviour, one suite for every adapter (Postgres today).

Each test speaks only the port (``eventpulse.ports``): transactions, compare-and-set, audit, history.
A new store adapter proves itself by joining the ``store`` fixture's parameters and passing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from eventpulse.curate.ddl import plan_table_changes
from eventpulse.ports import LineageValues, MetadataStore, NewIngestion
from eventpulse.schema.model import Column, TableSchema
from eventpulse.states import Status


def _new(dataset: str = "edge_telemetry", sha: str | None = None, **over: Any) -> NewIngestion:
    sha = sha or uuid.uuid4().hex * 2
    fields: dict[str, Any] = dict(
        dataset=dataset,
        filename="f.csv",
        source="test",
        raw_key=f"{dataset}/{sha}.csv",
        sha256=sha,
        size_bytes=10,
        max_attempts=2,
        created_by="tester",
    )
    return NewIngestion(**{**fields, **over})


def _register(store: MetadataStore, **over: Any) -> uuid.UUID:
    with store.transaction() as tx:
        row, created = tx.ingestions.register(_new(**over))
    assert created
    return uuid.UUID(str(row["id"]))


def test_register_is_idempotent_per_dataset_and_bytes_and_audited(store: MetadataStore) -> None:
    new = _new()
    with store.transaction() as tx:
        first, created = tx.ingestions.register(new)
        again, created_again = tx.ingestions.register(new)
        replay, replay_created = tx.ingestions.register(_new(sha=new.sha256, replay_of=first["id"]))
    assert created and not created_again and replay_created
    assert again["id"] == first["id"] != replay["id"]
    assert first["status"] == Status.RECEIVED
    with store.read() as tx:
        actions = [e["action"] for e in tx.audit.page(entity_id=str(first["id"])).items]
    assert actions == ["ingestion.registered"]


def test_the_sheet_is_part_of_an_originals_identity(store: MetadataStore) -> None:
    book = _new(filename="book.xlsx", sheet="North", options={"sheet": "North"})
    with store.transaction() as tx:
        north, _ = tx.ingestions.register(book)
        south, south_created = tx.ingestions.register(_new(sha=book.sha256, sheet="South"))
        again, again_created = tx.ingestions.register(_new(sha=book.sha256, sheet="North"))
        first, first_created = tx.ingestions.register(_new(sha=book.sha256))  # '': the first sheet
    assert south_created and first_created and not again_created
    assert len({north["id"], south["id"], first["id"]}) == 3 and again["id"] == north["id"]
    assert (north["sheet"], south["sheet"], first["sheet"]) == ("North", "South", "")
    assert north["options"] == {"sheet": "North"}


def test_a_transaction_that_raises_leaves_nothing_behind(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        row, _ = tx.ingestions.register(_new())
        tx.audit.record(actor="t", action="x", entity_type="y", entity_id="z")
        raise RuntimeError("crash before commit")
    with store.read() as tx:
        assert tx.ingestions.get(row["id"]) is None
        assert tx.audit.page().total == 0


def test_a_read_view_keeps_nothing(store: MetadataStore) -> None:
    with store.read() as tx:
        row, _ = tx.ingestions.register(_new())
    with store.read() as tx:
        assert tx.ingestions.get(row["id"]) is None


def test_claim_is_a_compare_and_set_that_counts_attempts(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        claimed = tx.ingestions.claim(ingestion, worker="w1")
        assert claimed is not None and claimed["attempts"] == 1 and claimed["claimed_by"] == "w1"
        assert tx.ingestions.claim(ingestion, worker="w2") is None  # PROCESSING is not claimable
        assert tx.ingestions.heartbeat(ingestion, worker="w2") is False
        assert tx.ingestions.heartbeat(ingestion, worker="w1", rows_processed=7) is True
        assert tx.ingestions.get(ingestion)["rows_processed"] == 7


def test_attempts_are_bounded_by_max_attempts(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        for attempt in range(2):
            assert tx.ingestions.claim(ingestion, worker=f"w{attempt}") is not None
            assert tx.ingestions.transition(
                ingestion, expected=[Status.PROCESSING], target=Status.FAILED_EXCEPTION, actor="w"
            )
        assert tx.ingestions.claim(ingestion, worker="w9") is None


def test_transition_refuses_edges_the_state_machine_does_not_have(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        with pytest.raises(ValueError):
            tx.ingestions.transition(ingestion, expected=[Status.RECEIVED], target=Status.LOADED, actor="t")
        lost = tx.ingestions.transition(
            ingestion, expected=[Status.PROCESSING], target=Status.LOADED, actor="t"
        )
        assert lost is None  # it is RECEIVED, not PROCESSING


def test_finish_needs_the_claim_and_writes_its_artifacts_with_it(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        tx.ingestions.claim(ingestion, worker="owner")
    artifacts = {"lineage": {"eventType": "COMPLETE"}, "quality": {"passed": True}}
    with store.transaction() as tx:
        stolen = tx.ingestions.finish(
            ingestion, worker="thief", status=Status.LOADED, details={}, artifacts=artifacts, finished=True
        )
        assert stolen is None
        assert tx.ingestions.artifacts(ingestion) == {}
        done = tx.ingestions.finish(
            ingestion, worker="owner", status=Status.LOADED, details={}, artifacts=artifacts, finished=True
        )
    assert done is not None and done["status"] == Status.LOADED
    assert done["finished_at"] == done["updated_at"]  # one database time: finished never after updated
    with store.read() as tx:
        assert tx.ingestions.artifacts(ingestion) == artifacts


def test_stale_claims_are_found_and_released_once(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        tx.ingestions.claim(ingestion, worker="dead")
    with store.transaction() as tx:
        assert tx.ingestions.find_stale(older_than_seconds=3600) == []
        assert tx.ingestions.find_stale(older_than_seconds=0) == [ingestion]
        released = tx.ingestions.release_stale(ingestion, older_than_seconds=0, actor="reclaim")
        assert released is not None and released["status"] == Status.FAILED_EXCEPTION
        assert released["error"]["code"] == "worker_lost"
        assert tx.ingestions.release_stale(ingestion, older_than_seconds=0, actor="reclaim") is None
    with store.read() as tx:  # a later transaction: its now() is after the failure's
        assert tx.ingestions.find_retryable(older_than_seconds=0) == [ingestion]
        assert tx.ingestions.find_retryable(older_than_seconds=3600) == []


def test_unqueued_work_is_found_until_it_is_handed_to_a_queue(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        assert ingestion in tx.ingestions.find_unqueued(older_than_seconds=0)
        assert tx.ingestions.find_unqueued(older_than_seconds=3600) == []
        tx.ingestions.mark_enqueued(ingestion)
        assert tx.ingestions.find_unqueued(older_than_seconds=3600) == []


def test_the_backlog_counts_unfinished_ingestions_per_source_and_state(store: MetadataStore) -> None:
    waiting = [_register(store, source="device:a") for _ in range(2)]
    busy, spent, done = (_register(store, source="api") for _ in range(3))
    with store.transaction() as tx:
        tx.ingestions.claim(busy, worker="w")  # PROCESSING
        for _ in range(2):  # FAILED_EXCEPTION with no attempt left: waits for nothing
            tx.ingestions.claim(spent, worker="w")
            tx.ingestions.transition(
                spent, expected=[Status.PROCESSING], target=Status.FAILED_EXCEPTION, actor="w"
            )
        tx.ingestions.claim(done, worker="w")
        tx.ingestions.finish(done, worker="w", status=Status.LOADED, details={}, artifacts={}, finished=True)
        tx.ingestions.claim(waiting[1], worker="w")  # failed once, attempts left: waits for its retry
        tx.ingestions.transition(
            waiting[1], expected=[Status.PROCESSING], target=Status.FAILED_EXCEPTION, actor="w"
        )
    with store.read() as tx:
        assert tx.ingestions.count_backlog() == {
            "device:a": {"RECEIVED": 1, "FAILED_EXCEPTION": 1},
            "api": {"PROCESSING": 1},
        }


def test_pages_filter_and_count(store: MetadataStore) -> None:
    ids = [_register(store) for _ in range(3)] + [_register(store, dataset="parcels")]
    with store.read() as tx:
        page = tx.ingestions.page(dataset="edge_telemetry", limit=2)
        assert page.total == 3 and len(page.items) == 2
        assert {r["id"] for r in page.items} <= set(ids[:3])
        assert tx.ingestions.page(statuses=[Status.LOADED.value]).total == 0
        assert tx.ingestions.page(source="test").total == 4
        assert tx.ingestions.page(source="watcher").total == 0
        assert tx.audit.page(dataset="parcels").total == 1


def test_schema_history_appends_versions_under_the_dataset_lock(store: MetadataStore) -> None:
    first = TableSchema.of([Column("id", "string", False)])
    second = TableSchema.of([*first, Column("a", "integer")])
    with store.transaction() as tx:
        assert tx.schemas.latest("edge_telemetry") is None
        row = tx.schemas.lock_dataset("edge_telemetry", "curated_edge_telemetry")
        assert row["name"] == "edge_telemetry" and row["curated_schema"] is None
        v1 = tx.schemas.append(
            dataset="edge_telemetry",
            schema=first,
            contract_version="c1",
            ingestion_id=None,
            reason="initial",
            actor="t",
        )
        v2 = tx.schemas.append(
            dataset="edge_telemetry",
            schema=second,
            contract_version="c1",
            ingestion_id=None,
            reason="evolved",
            actor="t",
        )
        tx.schemas.update_dataset("edge_telemetry", curated_schema=second.to_dict())
    assert (v1, v2) == (1, 2)
    with store.read() as tx:
        assert tx.schemas.latest("edge_telemetry") == (2, second)
        assert [h["version"] for h in tx.schemas.history("edge_telemetry")] == [1, 2]
        assert tx.schemas.list_datasets()[0]["curated_schema"] == second.to_dict()
        assert [e["action"] for e in tx.audit.page(action="schema.accepted").items] == ["schema.accepted"] * 2


def test_a_contract_version_is_remembered_once(store: MetadataStore) -> None:
    with store.transaction() as tx:
        assert tx.schemas.remember_contract_version(dataset="d", version="v1", body={"a": 1}, actor="t")
        assert not tx.schemas.remember_contract_version(dataset="d", version="v1", body={"a": 1}, actor="t")


def test_audit_retention_counts_and_deletes_before_a_cutoff(store: MetadataStore) -> None:
    with store.transaction() as tx:
        for n in range(3):
            tx.audit.record(actor="t", action="a", entity_type="e", entity_id=str(n))
    with store.transaction() as tx:
        future = tx.audit.page().items[0]["at"] + timedelta(seconds=1)
        assert tx.audit.count_before(future) == 3
        assert tx.audit.delete_before(future, limit=2) == 2
        assert tx.audit.delete_before(future, limit=2) == 1
        assert tx.audit.count_before(future) == 0


def test_the_first_record_of_a_source_object_wins(store: MetadataStore) -> None:
    ingestion = _register(store)
    with store.transaction() as tx:
        raw_key = tx.ingestions.get(ingestion)["raw_key"]
        tx.sources.record(bucket="b", name="o", generation=1, outcome="registered", ingestion_id=ingestion)
        tx.sources.record(bucket="b", name="o", generation=1, outcome="rejected", reason="late")
    with store.read() as tx:
        seen = tx.sources.find(bucket="b", name="o", generation=1)
        assert seen is not None and (seen.outcome, seen.ingestion_id) == ("registered", ingestion)
        assert tx.sources.find(bucket="b", name="o", generation=2) is None
        by_key = tx.sources.find(bucket="any", name=raw_key, generation=9)
        assert by_key is not None and by_key.outcome == "duplicate" and by_key.ingestion_id == ingestion


SCHEMA = TableSchema.of([Column("id", "string", False), Column("n", "integer")])


def _batch(ids: list[str]) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(ids), pa.array(range(len(ids)), pa.int64()), pa.array(range(1, len(ids) + 1), pa.int64())],
        names=["id", "n", "_source_row"],
    )


def test_a_curated_load_commits_with_the_transaction_or_not_at_all(store: MetadataStore) -> None:
    table = f"curated_port_{uuid.uuid4().hex[:8]}"
    lineage = LineageValues(str(uuid.uuid4()), "ab" * 32, "v1", datetime.now(UTC))
    with store.transaction() as tx:
        tx.curated.apply(plan_table_changes(table, SCHEMA, ["id"], None))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        load = tx.curated.start_load(table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
        load.write(_batch(["a", "b"]))
        load.abort()
        raise RuntimeError("the gate failed")
    with store.read() as tx:
        assert tx.curated.preview(table, order_by=["id"], limit=10).total == 0
    with store.transaction() as tx:
        load = tx.curated.start_load(table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
        load.write(_batch(["a", "b", "c"]))
        stats = load.finish()
    assert (stats.rows_staged, stats.inserted, stats.updated) == (3, 3, 0)
    with store.transaction() as tx:
        load = tx.curated.start_load(table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
        load.write(_batch(["c", "d"]))
        done = load.finish().to_dict()
        assert done == {"rows_staged": 2, "inserted": 1, "updated": 1, "unchanged": 0, "skipped": 0}
        tx.curated.apply([f'DROP TABLE "{table}"'])


def test_a_column_the_file_lacks_keeps_its_value_in_updated_rows(store: MetadataStore) -> None:
    table = f"curated_port_{uuid.uuid4().hex[:8]}"
    lineage = LineageValues(str(uuid.uuid4()), "ab" * 32, "v1", datetime.now(UTC))
    with store.transaction() as tx:
        tx.curated.apply(plan_table_changes(table, SCHEMA, ["id"], None))
        load = tx.curated.start_load(table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
        load.write(_batch(["a", "b"]))  # n = 0, 1
        load.finish()
    nulls = pa.record_batch(
        [pa.array(["b", "c"]), pa.array([None, None], pa.int64()), pa.array([1, 2], pa.int64())],
        names=["id", "n", "_source_row"],
    )
    with store.transaction() as tx:
        load = tx.curated.start_load(
            table, SCHEMA, ["id"], lineage, keys_verified_unique=True, absent=frozenset({"n"})
        )
        load.write(nulls)
        # "b" carries nothing but its key: nothing to change, so the row is not rewritten
        done = load.finish().to_dict()
        assert done == {"rows_staged": 2, "inserted": 1, "updated": 0, "unchanged": 1, "skipped": 0}
    with store.transaction() as tx:
        page = tx.curated.preview(table, order_by=["id"], limit=10)
        columns = tx.curated.columns(table)
        assert tx.curated.columns("curated_no_such_table") == {}
        tx.curated.apply([f'DROP TABLE "{table}"'])
    assert page.total == 3
    assert [(r["id"], r["n"]) for r in page.items] == [("a", 0), ("b", 1), ("c", None)]
    assert (columns["id"], columns["n"], columns["_ingestion_id"]) == ("text", "bigint", "uuid")


def test_a_profile_reads_bounded_statistics_of_existing_columns(store: MetadataStore) -> None:
    table = f"curated_port_{uuid.uuid4().hex[:8]}"
    lineage = LineageValues(str(uuid.uuid4()), "ab" * 32, "v1", datetime.now(UTC))
    with store.transaction() as tx:
        tx.curated.apply(plan_table_changes(table, SCHEMA, ["id"], None))
        load = tx.curated.start_load(table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
        load.write(_batch(["a", "bb", "ccc", "dddd"]))
        load.finish()
    with store.read() as tx:
        profile = tx.curated.profile(table, ["id", "n", "missing"], sample_rows=3, sample_values=2)
        assert tx.curated.profile("curated_port_absent", ["id"], sample_rows=3, sample_values=2) == {}
    assert set(profile) == {"id", "n"}  # an absent column is left out
    n, ids = profile["n"], profile["id"]
    assert (n["rows"], n["nulls"]) == (3, 0)  # at most sample_rows rows are read
    assert n["min_number"] is not None and n["max_number"] is not None and n["min_number"] <= n["max_number"]
    assert ids["min_number"] is None and 1 <= ids["min_length"] <= ids["max_length"] <= 4
    assert len(ids["sample"]) == 2 and set(ids["sample"]) <= {"a", "bb", "ccc", "dddd"}
    with store.transaction() as tx:
        tx.curated.apply([f'DROP TABLE "{table}"'])


def test_rows_of_ingestion_reads_one_loads_rows_by_its_lineage_id(store: MetadataStore) -> None:
    table = f"curated_port_{uuid.uuid4().hex[:8]}"
    first, second = (LineageValues(str(uuid.uuid4()), "ab" * 32, "v1", datetime.now(UTC)) for _ in range(2))
    with store.transaction() as tx:
        tx.curated.apply(plan_table_changes(table, SCHEMA, ["id"], None))
        for lineage, ids in ((first, ["a", "b", "c"]), (second, ["x"])):
            load = tx.curated.start_load(table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
            load.write(_batch(ids))  # n = 0, 1, 2
            load.finish()
    with store.read() as tx:
        rows = tx.curated.rows_of_ingestion(
            table, uuid.UUID(first.ingestion_id), columns=["id", "n", "missing"], limit=10
        )
        assert rows == [
            {"id": "a", "n": 0, "missing": None},
            {"id": "b", "n": 1, "missing": None},
            {"id": "c", "n": 2, "missing": None},
        ]
        only = tx.curated.rows_of_ingestion(
            table, uuid.UUID(first.ingestion_id), columns=["id"], where={"id": "b"}, limit=10
        )
        assert only == [{"id": "b"}]
        assert (
            len(tx.curated.rows_of_ingestion(table, uuid.UUID(first.ingestion_id), columns=["id"], limit=2))
            == 2
        )
        absent = {"missing": "x"}
        assert (
            tx.curated.rows_of_ingestion(
                table, uuid.UUID(first.ingestion_id), columns=["id"], where=absent, limit=9
            )
            == []
        )
        assert tx.curated.rows_of_ingestion("curated_port_none", uuid.uuid4(), columns=["id"], limit=9) == []
    with store.transaction() as tx:
        tx.curated.apply([f'DROP TABLE "{table}"'])

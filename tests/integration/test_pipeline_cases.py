"""Every generated demo case ends in the right state under each drift policy (real Postgres)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from eventpulse.demo.generator import TYPE_CHANGE_COLUMN, columns_for, write_case
from eventpulse.landing.register import register_path, replay
from eventpulse.states import Status
from tests.helpers import (
    artifacts,
    curated_columns,
    curated_count,
    ingest,
    schema_versions,
    set_contract_meta,
)

DATASETS = ["parcels", "edge_telemetry"]
FORMATS = ["csv", "xlsx"]
ROWS = 60


@pytest.fixture
def case(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(dataset: str, name: str, fmt: str, *, seed: int = 7) -> Path:
        return write_case(dataset, name, fmt, tmp_path / f"seed{seed}", rows=ROWS, seed=seed)  # type: ignore[arg-type]

    return make


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_baseline_loads_every_row_with_lineage(services, case, dataset: str, fmt: str) -> None:
    row = ingest(services, case(dataset, "baseline", fmt), dataset)
    assert row["status"] == Status.LOADED, row["error"]
    assert row["rows_loaded"] == ROWS
    assert curated_count(services, dataset) == ROWS
    columns = curated_columns(services, dataset)
    for lineage_column in (
        "_ingestion_id",
        "_loaded_at",
        "_source_sha256",
        "_source_row",
        "_contract_version",
    ):
        assert lineage_column in columns
    found = artifacts(services, row["id"])
    assert found["quality"]["passed"] is True
    assert found["lineage"]["eventType"] == "COMPLETE"
    assert schema_versions(services, dataset) == 1


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_duplicate_primary_key_fails_quality_and_loads_nothing(
    services, case, dataset: str, fmt: str
) -> None:
    row = ingest(services, case(dataset, "duplicate_pk", fmt), dataset)
    assert row["status"] == Status.FAILED_QUALITY
    assert curated_count(services, dataset) == 0
    report = artifacts(services, row["id"])["quality"]
    failed = [r for r in report["results"] if not r["success"] and r["severity"] == "critical"]
    assert any("unique" in r["expectation_type"] for r in failed)
    unique = next(r for r in failed if "unique" in r["expectation_type"])
    assert len(unique["failing_rows"]) >= 2  # both source rows of the repeated key
    assert artifacts(services, row["id"])["lineage"]["eventType"] == "FAIL"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("policy", "expected", "column_added"),
    [
        ("evolve", Status.LOADED, True),
        ("warn", Status.LOADED, False),
        ("allow", Status.LOADED, False),
        ("discard_value", Status.LOADED, False),
        ("fail", Status.FAILED_DRIFT, False),
        ("freeze", Status.FAILED_DRIFT, False),
        ("quarantine", Status.QUARANTINED, False),
    ],
)
def test_added_column_follows_the_policy(
    services, case, contracts_dir: Path, fmt: str, policy: str, expected: Status, column_added: bool
) -> None:
    dataset = "parcels"
    assert ingest(services, case(dataset, "baseline", fmt), dataset)["status"] == Status.LOADED
    set_contract_meta(contracts_dir, dataset, drift_policy={"new_columns": policy})
    added = case(dataset, "add_column", fmt, seed=8)
    row = ingest(services, added, dataset)
    assert row["status"] == expected, row["error"]
    drift = artifacts(services, row["id"])["drift"]
    kinds = {c["kind"] for c in drift["decision"]["changes"]}
    assert "column_added" in kinds
    (new_column,) = set(columns_for(dataset, "add_column")) - set(columns_for(dataset, "baseline"))
    assert (new_column in curated_columns(services, dataset)) is column_added
    assert schema_versions(services, dataset) == (2 if column_added else 1)
    if expected is Status.LOADED:
        # The same keys again: every curated row now comes from the second ingestion.
        assert curated_count(services, dataset) == ROWS
        assert curated_count(services, dataset, ingestion_id=row["id"]) == ROWS


def test_added_column_discard_row_drops_rows_that_use_it(services, case, contracts_dir: Path) -> None:
    dataset = "edge_telemetry"
    ingest(services, case(dataset, "baseline", "csv"), dataset)
    set_contract_meta(contracts_dir, dataset, drift_policy={"new_columns": "discard_row"})
    added = case(dataset, "add_column", "csv", seed=8)
    lines = added.read_text().splitlines()
    # Leave the new (last) column empty on every other row: only rows that use it are dropped.
    edited = [lines[0]] + [ln if i % 2 else ln.rsplit(",", 1)[0] + "," for i, ln in enumerate(lines[1:])]
    added.write_text("\n".join(edited) + "\n")
    row = ingest(services, added, dataset)
    assert row["status"] == Status.LOADED, row["error"]
    assert row["rows_rejected"] == ROWS // 2
    assert row["rows_loaded"] == ROWS - ROWS // 2


TYPE_CHANGE_OUTCOMES = [
    ("parcels", "fail", Status.FAILED_DRIFT),
    ("parcels", "freeze", Status.FAILED_DRIFT),
    ("parcels", "quarantine", Status.QUARANTINED),
    # sale_price becomes text: its numeric expectations cannot hold, so the gate stops the file.
    ("parcels", "evolve", Status.FAILED_QUALITY),
    # sale_price is required: nulling the unconvertible values fails its not-null expectation.
    ("parcels", "discard_value", Status.FAILED_QUALITY),
    ("edge_telemetry", "fail", Status.FAILED_DRIFT),
    ("edge_telemetry", "quarantine", Status.QUARANTINED),
    ("edge_telemetry", "evolve", Status.LOADED),
    ("edge_telemetry", "discard_value", Status.LOADED),
    ("edge_telemetry", "discard_row", Status.LOADED),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("dataset", "policy", "expected"), TYPE_CHANGE_OUTCOMES)
def test_type_change_follows_the_policy(
    services, case, contracts_dir: Path, dataset: str, fmt: str, policy: str, expected: Status
) -> None:
    assert ingest(services, case(dataset, "baseline", fmt), dataset)["status"] == Status.LOADED
    set_contract_meta(contracts_dir, dataset, drift_policy={"type_changes": policy})
    row = ingest(services, case(dataset, "type_change", fmt, seed=8), dataset)
    assert row["status"] == expected, row["error"]
    changes = artifacts(services, row["id"])["drift"]["decision"]["changes"]
    changed = {c["column"] for c in changes if c["kind"] in ("type_widened", "type_incompatible")}
    assert changed == {TYPE_CHANGE_COLUMN[dataset]}
    if expected is not Status.LOADED:
        assert schema_versions(services, dataset) == 1
        assert curated_count(services, dataset, ingestion_id=row["id"]) == 0
    elif policy == "evolve":
        assert schema_versions(services, dataset) == 2
        assert curated_columns(services, dataset)[TYPE_CHANGE_COLUMN[dataset]] == "text"
    elif policy == "discard_row":
        assert 0 < row["rows_rejected"] < ROWS  # readings carry the text values; heartbeats stay
        assert row["rows_loaded"] == ROWS - row["rows_rejected"]
    else:
        assert row["rows_loaded"] == ROWS


def test_drifted_file_sent_twice_under_fail_fails_twice(services, case, contracts_dir: Path) -> None:
    dataset = "parcels"
    ingest(services, case(dataset, "baseline", "csv"), dataset)
    set_contract_meta(contracts_dir, dataset, drift_policy="fail")
    first = ingest(services, case(dataset, "add_column", "csv", seed=8), dataset)
    second = ingest(services, case(dataset, "add_column", "csv", seed=9), dataset)  # other bytes, same drift
    assert first["status"] == Status.FAILED_DRIFT
    assert second["status"] == Status.FAILED_DRIFT
    replayed = replay(services, first["id"], actor="test")
    with services.store.read() as tx:
        again = tx.ingestions.get(replayed["id"])
    assert again is not None and again["status"] == Status.FAILED_DRIFT
    assert again["raw_key"] == first["raw_key"]
    assert "lineage" in artifacts(services, again["id"])
    assert schema_versions(services, dataset) == 1  # the rejected schema never became the baseline


def test_same_bytes_uploaded_twice_make_one_ingestion(services, case) -> None:
    path = case("edge_telemetry", "baseline", "csv")
    first = register_path(services, path=path, dataset="edge_telemetry", source="test", actor="test")
    second = register_path(services, path=path, dataset="edge_telemetry", source="test", actor="test")
    assert not first.deduplicated and second.deduplicated
    assert first.ingestion["id"] == second.ingestion["id"]
    assert curated_count(services, "edge_telemetry") == ROWS


def test_a_file_lacking_an_evolved_column_follows_the_removed_columns_policy(
    services, case, contracts_dir: Path
) -> None:
    dataset = "parcels"
    set_contract_meta(
        contracts_dir, dataset, drift_policy={"new_columns": "evolve", "removed_columns": "fail"}
    )
    assert ingest(services, case(dataset, "add_column", "csv"), dataset)["status"] == Status.LOADED
    (new_column,) = set(columns_for(dataset, "add_column")) - set(columns_for(dataset, "baseline"))
    # The evolved column is known for good: an older-shaped file lacks it, and removed_columns decides.
    older = ingest(services, case(dataset, "baseline", "csv", seed=8), dataset)
    assert older["status"] == Status.FAILED_DRIFT
    assert f"column {new_column!r} is missing" in older["error"]["message"]
    assert curated_count(services, dataset, ingestion_id=older["id"]) == 0

    # Under warn, a replay of the same file loads: NULL there in the rows it inserts, and the rows it
    # updates keep the value they had (the file says nothing about a column it does not carry).
    set_contract_meta(
        contracts_dir, dataset, drift_policy={"new_columns": "evolve", "removed_columns": "warn"}
    )
    values = f'SELECT parcel_id, "{new_column}" FROM "curated_{dataset}"'
    with services.store.engine.connect() as conn:
        before = dict(conn.execute(text(values)).all())
    replayed = replay(services, older["id"], actor="test")
    with services.store.read() as tx:
        again = tx.ingestions.get(replayed["id"])
        after = dict(
            tx.connection.execute(text(values + " WHERE _ingestion_id = :i"), {"i": replayed["id"]}).all()
        )
    assert again is not None and again["status"] == Status.LOADED, again and again["error"]
    assert len(after) == ROWS
    assert after == {k: before.get(k) for k in after}
    assert any(v is not None for v in after.values())  # it did update rows that had a value there
    assert new_column in curated_columns(services, dataset)
    assert schema_versions(services, dataset) == 1  # the older file accepted nothing new

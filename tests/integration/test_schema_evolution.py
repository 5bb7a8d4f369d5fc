"""Schema evolution never forgets a column, and a dataset has one history (real pipeline, Postgres).

The known schema of a dataset is every column it ever accepted. A file that lacks one is a
``column_removed`` change decided by the policy; it never drops the column from the history, so the
history, ``datasets.curated_schema`` and the curated table always agree (docs/SCHEMA_DRIFT.md).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.demo.generator import seed_files, write_case
from eventpulse.errors import Conflict
from eventpulse.pipeline.review import approve_schema
from eventpulse.states import Status
from tests.helpers import curated_count, ingest, set_contract_meta
from tests.integration.evolution_support import (
    assert_history_matches_table,
    drift_changes,
    history_columns,
    schema_reasons,
    write_contract,
    write_csv,
)

DATASET = "evolving"


def _file(tmp_path: Path, name: str, header: list[str], start: int, rows: int = 3) -> Path:
    """A CSV with key ``id`` and integer values in every other column; keys from ``start``."""
    body = [
        [f"k{start + i}", *(str(10 * (start + i) + j) for j in range(1, len(header)))] for i in range(rows)
    ]
    return write_csv(tmp_path / f"{name}.csv", header, body)


def _ingest_sequence(services: Any, tmp_path: Path) -> list[dict[str, Any]]:
    """The issue's reproduction: (id,a) → (id,a,b) → (id,a,c) → (id,a,b)."""
    headers = [["id", "a"], ["id", "a", "b"], ["id", "a", "c"], ["id", "a", "b"]]
    rows = []
    for step, header in enumerate(headers):
        rows.append(ingest(services, _file(tmp_path, f"step{step}", header, start=10 * step), DATASET))
        assert rows[-1]["status"] != Status.FAILED_EXCEPTION, rows[-1]["error"]
        assert_history_matches_table(services, DATASET)
    return rows


def test_evolve_keeps_a_column_that_a_later_file_lacks(services, contracts_dir: Path, tmp_path: Path) -> None:
    write_contract(
        contracts_dir,
        DATASET,
        columns={"a": "integer"},
        drift_policy={"new_columns": "evolve", "removed_columns": "evolve"},
    )

    rows = _ingest_sequence(services, tmp_path)

    assert [r["status"] for r in rows] == [Status.LOADED] * 4, [r["error"] for r in rows]
    assert history_columns(services, DATASET) == {
        "id": "string",
        "a": "integer",
        "b": "integer",
        "c": "integer",
    }
    assert len(schema_reasons(services, DATASET)) == 3  # initial, +b, +c: the last file changed nothing
    assert ("column_removed", "b") in drift_changes(services, rows[2]["id"])
    assert ("column_removed", "c") in drift_changes(services, rows[3]["id"])
    with services.store.engine.connect() as conn:
        nulls = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE b IS NULL), count(*) FILTER (WHERE c IS NULL) "
                "FROM curated_evolving WHERE _ingestion_id = :i"
            ),
            {"i": rows[2]["id"]},
        ).one()
    assert tuple(nulls) == (3, 0)  # the file without b loads NULL there; its own c is kept
    assert curated_count(services, DATASET) == 12


def test_fail_policy_rejects_a_file_that_lacks_an_evolved_column(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    write_contract(
        contracts_dir,
        DATASET,
        columns={"a": "integer"},
        drift_policy={"new_columns": "evolve", "removed_columns": "fail"},
    )

    rows = _ingest_sequence(services, tmp_path)

    assert [r["status"] for r in rows] == [Status.LOADED, Status.LOADED, Status.FAILED_DRIFT, Status.LOADED]
    assert "column 'b' is missing" in rows[2]["error"]["message"]
    assert ("column_removed", "b") in drift_changes(services, rows[2]["id"])
    assert history_columns(services, DATASET) == {"id": "string", "a": "integer", "b": "integer"}
    assert curated_count(services, DATASET, ingestion_id=rows[2]["id"]) == 0


def test_a_file_lacking_a_column_leaves_it_as_it_was_in_the_rows_it_updates(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    write_contract(
        contracts_dir,
        DATASET,
        columns={"a": "integer"},
        drift_policy={"new_columns": "evolve", "removed_columns": "warn"},
    )
    full = write_csv(tmp_path / "full.csv", ["id", "a", "b"], [["k1", "1", "100"], ["k2", "2", "200"]])
    assert ingest(services, full, DATASET)["status"] == Status.LOADED
    # k2 again (a changes) and a new k3, without the column b: the file says nothing about b.
    narrower = write_csv(tmp_path / "narrower.csv", ["id", "a"], [["k2", "20"], ["k3", "30"]])
    assert ingest(services, narrower, DATASET)["status"] == Status.LOADED
    with services.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, a, b FROM curated_evolving ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("k1", 1, 100), ("k2", 20, 200), ("k3", 30, None)]


def test_a_dataset_whose_history_lost_a_column_heals_when_the_column_comes_back(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    """What the old bug left behind: the table has ``b``, the history and the recorded schema do not."""
    write_contract(contracts_dir, DATASET, columns={"a": "integer"}, drift_policy={"new_columns": "evolve"})
    for name, header, start in (("a", ["id", "a"], 0), ("ab", ["id", "a", "b"], 10)):
        assert (
            ingest(services, _file(tmp_path, name, header, start=start), DATASET)["status"] == Status.LOADED
        )
    with services.store.engine.begin() as conn:  # forget b, as releases before the fix did
        conn.execute(text("DELETE FROM dataset_schemas WHERE dataset = :d AND version > 1"), {"d": DATASET})
        conn.execute(
            text(
                "UPDATE datasets SET curated_schema = (SELECT schema FROM dataset_schemas "
                "WHERE dataset = :d AND version = 1) WHERE name = :d"
            ),
            {"d": DATASET},
        )
    assert "b" not in (history_columns(services, DATASET) or {})

    again = ingest(services, _file(tmp_path, "ab-again", ["id", "a", "b"], start=20), DATASET)

    assert again["status"] == Status.LOADED, again["error"]  # not FAILED_EXCEPTION "b already exists"
    assert history_columns(services, DATASET) == {"id": "string", "a": "integer", "b": "integer"}
    assert_history_matches_table(services, DATASET)


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(case: str, seed: int) -> Path:
        return write_case("parcels", case, "csv", tmp_path / f"demo{seed}", rows=40, seed=seed)  # type: ignore[arg-type]

    return make


@pytest.mark.samples
def test_parcels_files_without_flood_zone_fail_once_it_was_accepted(
    services, demo, samples_dir: Path, tmp_path: Path
) -> None:
    # parcels' own policy: new columns evolve, removed columns fail (docs/LOCAL_DEV.md, "Demo data").
    assert ingest(services, demo("baseline", 7), "parcels")["status"] == Status.LOADED
    added = ingest(services, demo("add_column", 8), "parcels")
    assert added["status"] == Status.LOADED, added["error"]

    zoning = ingest(services, samples_dir / "parcels_drift_add_column.xlsx", "parcels")
    older = ingest(services, demo("baseline", 9), "parcels")
    (seed,) = seed_files("parcels", tmp_path / "seeds", limit=20, per_ingestion_max=20)
    seeded = ingest(services, seed, "parcels")
    again = ingest(services, demo("add_column", 10), "parcels")

    for rejected in (zoning, older, seeded):
        assert rejected["status"] == Status.FAILED_DRIFT, rejected["error"]
        assert "column 'flood_zone' is missing" in rejected["error"]["message"]
        assert ("column_removed", "flood_zone") in drift_changes(services, rejected["id"])
    assert again["status"] == Status.LOADED, again["error"]
    assert "flood_zone" in history_columns(services, "parcels")  # type: ignore[operator]
    assert "zoning" not in history_columns(services, "parcels")  # type: ignore[operator]
    assert_history_matches_table(services, "parcels")


@pytest.mark.samples
def test_parcels_evolving_removed_columns_loads_zoning_and_keeps_flood_zone(
    services, demo, samples_dir: Path, contracts_dir: Path
) -> None:
    set_contract_meta(
        contracts_dir,
        "parcels",
        drift_policy={"new_columns": "evolve", "removed_columns": "evolve", "type_changes": "fail"},
    )
    steps = [demo("baseline", 7), demo("add_column", 8), samples_dir / "parcels_drift_add_column.xlsx"]
    steps.append(demo("add_column", 9))  # the file that failed `column "flood_zone" already exists`

    rows = [ingest(services, path, "parcels") for path in steps]

    assert [r["status"] for r in rows] == [Status.LOADED] * 4, [r["error"] for r in rows]
    known = history_columns(services, "parcels")
    assert known is not None and list(known)[-2:] == ["flood_zone", "zoning"]
    assert_history_matches_table(services, "parcels")


def _held_type_change(services: Any, contracts_dir: Path, tmp_path: Path, removed: str) -> dict[str, Any]:
    """Load (id,a), then hold (id,a) with text in a; then evolve b with (id,a,b)."""
    write_contract(
        contracts_dir,
        DATASET,
        columns={"a": "integer"},
        drift_policy={"new_columns": "evolve", "removed_columns": removed, "type_changes": "quarantine"},
    )
    assert ingest(services, _file(tmp_path, "first", ["id", "a"], 0), DATASET)["status"] == Status.LOADED
    texts = write_csv(tmp_path / "held.csv", ["id", "a"], [["k100", "about 5"], ["k101", "n/a"]])
    held = ingest(services, texts, DATASET)
    assert held["status"] == Status.QUARANTINED, held["error"]
    evolved = ingest(services, _file(tmp_path, "with_b", ["id", "a", "b"], 20), DATASET)
    assert evolved["status"] == Status.LOADED, evolved["error"]
    return held


def test_approving_a_held_file_evolves_from_the_current_history(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    held = _held_type_change(services, contracts_dir, tmp_path, removed="evolve")

    approved = approve_schema(services, held["id"], actor="alice")

    assert approved["status"] == Status.LOADED, approved["error"]
    # b was accepted after the file was held: the approved baseline keeps it, and widens a.
    assert history_columns(services, DATASET) == {"id": "string", "a": "string", "b": "integer"}
    assert_history_matches_table(services, DATASET)
    later = ingest(services, _file(tmp_path, "later", ["id", "a", "b"], 40), DATASET)
    assert later["status"] == Status.LOADED, later["error"]
    assert_history_matches_table(services, DATASET)


def test_an_approved_schema_reaches_the_table_even_when_the_file_then_fails_its_gate(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    write_contract(
        contracts_dir,
        DATASET,
        columns={"a": "integer"},
        drift_policy={"new_columns": "evolve", "removed_columns": "evolve", "type_changes": "quarantine"},
    )
    assert ingest(services, _file(tmp_path, "first", ["id", "a"], 0), DATASET)["status"] == Status.LOADED
    repeated_key = write_csv(tmp_path / "held.csv", ["id", "a"], [["k7", "about 5"], ["k7", "n/a"]])
    held = ingest(services, repeated_key, DATASET)
    assert held["status"] == Status.QUARANTINED, held["error"]

    approved = approve_schema(services, held["id"], actor="alice")

    assert approved["status"] == Status.FAILED_QUALITY  # the repeated key fails the uniqueness check
    assert history_columns(services, DATASET) == {"id": "string", "a": "string"}
    assert_history_matches_table(services, DATASET)  # the approval widened the table itself


def test_approving_a_held_file_that_lacks_an_evolved_column_under_fail_is_refused(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    held = _held_type_change(services, contracts_dir, tmp_path, removed="fail")
    before = schema_reasons(services, DATASET)

    with pytest.raises(Conflict, match="column 'b' is missing"):
        approve_schema(services, held["id"], actor="alice")

    assert schema_reasons(services, DATASET) == before  # nothing was appended
    assert history_columns(services, DATASET) == {"id": "string", "a": "integer", "b": "integer"}


def test_concurrent_first_loads_write_one_initial_schema(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    write_contract(contracts_dir, DATASET, columns={"a": "integer"}, drift_policy={"new_columns": "evolve"})
    paths = [_file(tmp_path, f"parallel{n}", ["id", "a"], 100 * n, rows=50) for n in range(5)]
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(paths))

    def load(path: Path) -> None:
        try:
            start.wait()
            results.append(ingest(services, path, DATASET))  # its own registration, processed inline
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert [r["status"] for r in results] == [Status.LOADED] * 5, [r["error"] for r in results]
    assert schema_reasons(services, DATASET) == ["initial"]
    assert curated_count(services, DATASET) == 250
    assert_history_matches_table(services, DATASET)

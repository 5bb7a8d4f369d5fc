"""Row-level quarantine on the real pipeline and Postgres (docs/CONTRACTS.md#row-level-quarantine).

Rows failing a quarantine expectation are held back with everything needed to act on them; the rows
that pass load in the same transaction; ``mostly`` still decides whether the file as a whole passes;
rows a ``discard_row`` policy removes are traced in the same store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from eventpulse.ports import QuarantineFilter
from eventpulse.states import Status
from tests.helpers import artifacts, curated_count, ingest
from tests.integration.quarantine_support import (
    DATASET,
    GOOD_AND_BAD,
    write_csv,
    write_readings_contract,
)


def quarantined(services: Any, **where: Any) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        return tx.quarantine.page(QuarantineFilter(**where), limit=1000)


def curated_ids(services: Any) -> list[str]:
    with services.store.engine.connect() as conn:
        return list(conn.execute(text(f'SELECT id FROM "curated_{DATASET}" ORDER BY id')).scalars())


def test_failing_rows_are_held_back_and_the_rest_loads(services: Any, contracts_dir: Path, tmp_path: Path):
    write_readings_contract(contracts_dir)
    row = ingest(services, write_csv(tmp_path / "r.csv", GOOD_AND_BAD), DATASET)

    assert row["status"] == Status.PARTIALLY_LOADED
    assert (row["rows_loaded"], row["rows_quarantined"], row["rows_total"]) == (5, 3, 8)
    assert curated_ids(services) == ["r1", "r3", "r6", "r7", "r8"]
    held = quarantined(services, ingestion_id=row["id"])
    assert [h["source_row"] for h in held] == [2, 4, 5]
    first = held[0]
    assert first["kind"] == "expectation" and first["status"] == "held"
    assert first["dataset"] == DATASET and first["sheet"] == ""
    assert first["values"] == {"id": "r2", "kind": "b", "value": "250"}  # as read from the CSV
    assert first["contract_version"] == row["contract_version"]
    assert first["raw_uri"].endswith(row["raw_key"])
    assert first["failures"] == [
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "value", "min_value": 0, "max_value": 100, "mostly": 0.5},
            "severity": "critical",
        }
    ]
    both = {f["expectation_type"] for f in held[2]["failures"]}
    assert both == {"expect_column_values_to_be_between", "expect_column_values_to_be_in_set"}
    assert artifacts(services, row["id"])["load"]["rows_quarantined"] == 3


def test_every_failing_row_is_kept_not_only_the_report_samples(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    write_readings_contract(contracts_dir, mostly=0.1)
    rows = [(f"r{i}", "a", 500 if i % 2 else 5) for i in range(1, 101)]  # 50 bad rows
    row = ingest(services, write_csv(tmp_path / "many.csv", rows), DATASET)

    assert row["status"] == Status.PARTIALLY_LOADED
    assert row["rows_quarantined"] == 50 and curated_count(services, DATASET) == 50
    assert len(quarantined(services, ingestion_id=row["id"])) == 50
    report = artifacts(services, row["id"])["quality"]
    between = next(r for r in report["results"] if r["expectation_type"].endswith("to_be_between"))
    assert between["unexpected_count"] == 50 and len(between["failing_rows"]) == 20  # samples capped


def test_too_many_failing_rows_fail_the_file_and_hold_nothing(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    write_readings_contract(contracts_dir, mostly=0.9)  # 3 of 8 fail: 62% pass < 90%
    row = ingest(services, write_csv(tmp_path / "r.csv", GOOD_AND_BAD), DATASET)

    assert row["status"] == Status.FAILED_QUALITY
    assert curated_count(services, DATASET) == 0
    assert quarantined(services) == []


def test_a_fail_file_expectation_still_fails_the_file(services: Any, contracts_dir: Path, tmp_path: Path):
    write_readings_contract(contracts_dir, on_row_failure="fail_file")
    row = ingest(services, write_csv(tmp_path / "r.csv", GOOD_AND_BAD), DATASET)

    assert row["status"] == Status.LOADED  # mostly 0.5 passes: failing rows load, as before
    assert curated_count(services, DATASET) == 8 and quarantined(services) == []


def test_a_clean_file_loads_as_before(services: Any, contracts_dir: Path, tmp_path: Path):
    write_readings_contract(contracts_dir)
    clean = [r for r in GOOD_AND_BAD if r[0] not in ("r2", "r4", "r5")]
    row = ingest(services, write_csv(tmp_path / "clean.csv", clean), DATASET)

    assert row["status"] == Status.LOADED and row["rows_quarantined"] == 0
    assert curated_count(services, DATASET) == 5


def test_held_rows_are_excluded_when_merging_into_existing_rows(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    write_readings_contract(contracts_dir)
    first = ingest(services, write_csv(tmp_path / "first.csv", [("r2", "a", 1), ("r9", "a", 9)]), DATASET)
    assert first["status"] == Status.LOADED
    second = ingest(services, write_csv(tmp_path / "r.csv", GOOD_AND_BAD), DATASET)  # staging path

    assert second["status"] == Status.PARTIALLY_LOADED and second["rows_loaded"] == 5
    with services.store.engine.connect() as conn:
        kept = conn.execute(text(f"SELECT value FROM \"curated_{DATASET}\" WHERE id = 'r2'")).scalar_one()
    assert kept == 1  # the held version of r2 did not overwrite the loaded one
    assert curated_count(services, DATASET) == 7


def test_discarded_rows_are_traced_in_the_quarantine_store(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    write_readings_contract(contracts_dir, drift_policy={"new_columns": "discard_row"})
    ingest(services, write_csv(tmp_path / "base.csv", [("r0", "a", 1)]), DATASET)
    rows = [("r1", "a", 10, ""), ("r2", "b", 20, "extra!"), ("r3", "a", 30, "")]
    path = write_csv(tmp_path / "new.csv", rows, header="id,kind,value,note")
    row = ingest(services, path, DATASET)

    assert row["status"] == Status.LOADED and row["rows_rejected"] == 1
    traced = quarantined(services, ingestion_id=row["id"])
    assert [(t["source_row"], t["kind"], t["status"]) for t in traced] == [(2, "discard_row", "discarded")]
    assert traced[0]["values"]["note"] == "extra!" and traced[0]["values"]["id"] == "r2"
    assert traced[0]["failures"][0]["kwargs"] == {"column": "note"}


def test_values_nulled_by_discard_value_are_traced(services: Any, contracts_dir: Path, tmp_path: Path):
    write_readings_contract(contracts_dir, drift_policy={"type_changes": "discard_value"})
    rows = [("r1", "a", 10), ("r2", "b", "lots"), ("r3", "a", 30)]
    row = ingest(services, write_csv(tmp_path / "typo.csv", rows), DATASET)

    assert row["status"] == Status.LOADED and curated_count(services, DATASET) == 3
    (traced,) = quarantined(services, ingestion_id=row["id"])
    assert (traced["source_row"], traced["kind"], traced["status"]) == (2, "discard_value", "discarded")
    assert traced["values"]["value"] == "lots"
    assert traced["failures"][0]["kwargs"] == {"column": "value", "type": "number"}


def test_prune_keeps_an_ingestion_while_it_has_held_rows(services: Any, contracts_dir: Path, tmp_path: Path):
    from eventpulse.jobs.prune import prune_retention

    write_readings_contract(contracts_dir)
    row = ingest(services, write_csv(tmp_path / "r.csv", GOOD_AND_BAD), DATASET)
    with services.store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ingestions SET created_at = now() - interval '40 days', "
                "updated_at = now() - interval '40 days' WHERE id = :i"
            ),
            {"i": row["id"]},
        )

    assert prune_retention(services, older_than_days=30, apply=True, actor="t").ingestions_deleted == 0
    with services.store.transaction() as tx:
        ids = [r["id"] for r in tx.quarantine.page(QuarantineFilter(ingestion_id=row["id"]), limit=10)]
        tx.quarantine.resolve(ids, status="discarded", actor="t", reason="resolved")
    assert prune_retention(services, older_than_days=30, apply=True, actor="t").ingestions_deleted == 1
    assert quarantined(services) == []  # resolved records go with their ingestion

"""The handout samples (../shared/samples) end in the right state through the real pipeline.

The samples are read-only and live beside the checkout; ``samples_dir`` skips these tests, saying why,
when the folder is absent. Expected drift outcomes are derived from each contract's own drift policy
(read from the contract file), so the tests follow a policy change instead of pinning today's values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from sqlalchemy import text

from eventpulse.schema.drift import DriftPolicy
from eventpulse.states import Status
from tests.helpers import (
    artifacts,
    curated_columns,
    curated_count,
    ingest,
    schema_versions,
    set_contract_meta,
)

pytestmark = pytest.mark.samples

BASELINES = {"parcels": "parcels_baseline.xlsx", "edge_telemetry": "edge_telemetry_sample.csv"}
KEYS = {"parcels": "parcel_id", "edge_telemetry": "event_id"}
ADDED_COLUMN = {"parcels": "zoning", "edge_telemetry": "carrier"}
SAMPLE_ROWS = 120

# What each drift mode does with a change it governs (docs/SCHEMA_DRIFT.md, "Policies").
REJECTING_MODES = {"fail", "freeze"}
LOADING_MODES = {"evolve", "allow", "warn", "discard_value", "discard_row"}


def policy_mode(contracts_dir: Path, dataset: str, kind: str) -> str:
    """The drift mode the contract file sets for ``kind`` (project defaults fill missing keys)."""
    meta = json.loads((contracts_dir / f"{dataset}.json").read_text())["meta"]["eventpulse"]
    return str(getattr(DriftPolicy.from_meta(meta.get("drift_policy")), kind))


def expected_status(mode: str) -> Status:
    if mode in REJECTING_MODES:
        return Status.FAILED_DRIFT
    if mode == "quarantine":
        return Status.QUARANTINED
    assert mode in LOADING_MODES, mode
    return Status.LOADED


def read_sample(path: Path) -> pa.Table:
    if path.suffix == ".csv":
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    import fastexcel

    return fastexcel.read_excel(path).load_sheet(0, schema_sample_rows=None).to_arrow()


def curated_keys(services, dataset: str) -> list[str]:
    key = KEYS[dataset]
    with services.store.engine.connect() as conn:
        return list(conn.execute(text(f'SELECT "{key}" FROM "curated_{dataset}" ORDER BY 1')).scalars())


def drift_changes(services, ingestion_id) -> list[dict]:
    return artifacts(services, ingestion_id)["drift"]["decision"]["changes"]


def schema_history(services, dataset: str) -> list[tuple]:
    with services.store.read() as tx:
        return [(r["version"], r["fingerprint"]) for r in tx.schemas.history(dataset)]


def load_baseline(services, samples_dir: Path, dataset: str) -> dict:
    row = ingest(services, samples_dir / BASELINES[dataset], dataset)
    assert row["status"] == Status.LOADED, row["error"]
    return row


@pytest.mark.parametrize("dataset", sorted(BASELINES))
def test_valid_sample_loads_every_row_into_the_curated_table(services, samples_dir, dataset) -> None:
    path = samples_dir / BASELINES[dataset]
    row = load_baseline(services, samples_dir, dataset)
    source = read_sample(path)
    assert source.num_rows == SAMPLE_ROWS
    assert row["rows_loaded"] == SAMPLE_ROWS
    assert row["rows_rejected"] == 0
    assert curated_count(services, dataset, ingestion_id=row["id"]) == SAMPLE_ROWS
    assert curated_keys(services, dataset) == sorted(source.column(KEYS[dataset]).to_pylist())
    found = artifacts(services, row["id"])
    assert found["quality"]["passed"] is True
    assert found["quality"]["rows_evaluated"] == SAMPLE_ROWS
    assert found["lineage"]["eventType"] == "COMPLETE"
    assert schema_versions(services, dataset) == 1


def test_edge_sample_heartbeats_keep_empty_readings_as_null(services, samples_dir) -> None:
    load_baseline(services, samples_dir, "edge_telemetry")
    with services.store.engine.connect() as conn:
        bad = conn.execute(
            text(
                "SELECT count(*) FROM curated_edge_telemetry WHERE event_type = 'heartbeat' "
                "AND (sensor IS NOT NULL OR value IS NOT NULL OR units IS NOT NULL)"
            )
        ).scalar_one()
        heartbeats = conn.execute(
            text("SELECT count(*) FROM curated_edge_telemetry WHERE event_type = 'heartbeat'")
        ).scalar_one()
    assert heartbeats > 0 and bad == 0


def test_parcels_sample_keeps_code_columns_as_text(services, samples_dir) -> None:
    load_baseline(services, samples_dir, "parcels")
    columns = curated_columns(services, "parcels")
    for code in ("zip", "doc_number", "book", "page"):
        assert columns[code] == "text", code
    assert columns["sale_price"] == "double precision"
    assert columns["year_built"] == "bigint"


def test_edge_sample_repeating_an_event_id_from_two_devices_keeps_both_rows(services, samples_dir) -> None:
    """The handout's edge duplicate repeats an event_id from another device (rpi-01 and rpi-02).

    edge_telemetry is keyed by (device_id, event_id) since devices send their own rows (issue 8):
    one device's event_id can never replace another's row, so the file loads, with both rows.
    """
    path = samples_dir / "edge_telemetry_quality_fail_duplicate_pk.csv"
    keys = read_sample(path).column("event_id").to_pylist()
    (duplicated,) = {k for k in keys if keys.count(k) > 1}

    row = ingest(services, path, "edge_telemetry")

    assert row["status"] == Status.LOADED, row["error"]
    with services.store.engine.connect() as conn:
        devices = conn.execute(
            text("SELECT device_id FROM curated_edge_telemetry WHERE event_id = :e ORDER BY device_id"),
            {"e": duplicated},
        ).scalars()
        assert len(list(devices)) == 2


@pytest.mark.parametrize(
    ("dataset", "sample"),
    [("parcels", "parcels_quality_fail_duplicate_pk.xlsx")],
)
def test_duplicate_key_sample_fails_quality_naming_both_source_rows(
    services, samples_dir, dataset, sample
) -> None:
    path = samples_dir / sample
    keys = read_sample(path).column(KEYS[dataset]).to_pylist()
    duplicated = {k for k in keys if keys.count(k) > 1}
    assert len(duplicated) == 1
    expected_rows = [i + 1 for i, k in enumerate(keys) if k in duplicated]  # 1-based data rows

    row = ingest(services, path, dataset)

    assert row["status"] == Status.FAILED_QUALITY, row["error"]
    assert row["error"]["code"] == "quality_gate_failed"
    assert row["rows_loaded"] == 0
    assert curated_count(services, dataset) == 0
    report = artifacts(services, row["id"])["quality"]
    assert report["passed"] is False
    unique = [
        r
        for r in report["results"]
        if r["expectation_type"] == "expect_column_values_to_be_unique"
        and r["kwargs"].get("column") == KEYS[dataset]
    ]
    assert len(unique) == 1 and unique[0]["success"] is False and unique[0]["severity"] == "critical"
    assert unique[0]["failing_rows"] == expected_rows
    assert set(unique[0]["sample_values"]) == duplicated
    assert artifacts(services, row["id"])["lineage"]["eventType"] == "FAIL"


@pytest.mark.parametrize(
    ("dataset", "sample"),
    [
        ("parcels", "parcels_drift_add_column.xlsx"),
        ("edge_telemetry", "edge_telemetry_drift_add_column.csv"),
    ],
)
def test_added_column_sample_follows_the_contract_policy(
    services, samples_dir, contracts_dir, dataset, sample
) -> None:
    load_baseline(services, samples_dir, dataset)
    mode = policy_mode(contracts_dir, dataset, "new_columns")
    column = ADDED_COLUMN[dataset]

    row = ingest(services, samples_dir / sample, dataset)

    assert row["status"] == expected_status(mode), row["error"]
    changes = drift_changes(services, row["id"])
    assert [(c["kind"], c["column"], c["mode"]) for c in changes if c["kind"] == "column_added"] == [
        ("column_added", column, mode)
    ]
    evolves = mode == "evolve"
    assert (column in curated_columns(services, dataset)) is evolves
    assert schema_versions(services, dataset) == (2 if evolves else 1)
    if row["status"] == Status.LOADED:
        # Same keys as the baseline: every curated row is now the drifted file's version.
        assert curated_count(services, dataset) == SAMPLE_ROWS
        assert curated_count(services, dataset, ingestion_id=row["id"]) == SAMPLE_ROWS
    if evolves:
        added = read_sample(samples_dir / sample).column(column).to_pylist()
        with services.store.engine.connect() as conn:
            stored = conn.execute(
                text(f'SELECT "{column}" FROM "curated_{dataset}" ORDER BY _source_row')
            ).scalars()
            assert list(stored) == added


@pytest.mark.parametrize("policy", ["fail", "quarantine"])
def test_type_change_sample_of_numeric_text_cells_loads_as_numbers_under_any_policy(
    services, samples_dir, contracts_dir, policy
) -> None:
    # sale_price is stored as text cells that hold plain numbers: every value casts to the known
    # number type without loss, so it is no type change (docs/SCHEMA_DRIFT.md, "Lossless casts").
    load_baseline(services, samples_dir, "parcels")
    before = schema_history(services, "parcels")
    set_contract_meta(contracts_dir, "parcels", drift_policy={"type_changes": policy})
    path = samples_dir / "parcels_drift_type_change.xlsx"

    row = ingest(services, path, "parcels")

    assert row["status"] == Status.LOADED, row["error"]
    changes = drift_changes(services, row["id"])
    assert not [c for c in changes if c["kind"] in ("type_widened", "type_incompatible")]
    observed = artifacts(services, row["id"])["drift"]["observed_schema"]["columns"]
    sale_price = next(c for c in observed if c["name"] == "sale_price")
    assert sale_price["type"] == "string" and "number" in sale_price["fits"]
    assert schema_history(services, "parcels") == before
    assert curated_columns(services, "parcels")["sale_price"] == "double precision"
    sample = read_sample(path)
    texts = sample.column("sale_price").to_pylist()
    keys = [str(k) for k in sample.column("parcel_id").to_pylist()]
    # By key, not by this ingestion's lineage: a row whose values equal the baseline's is not rewritten.
    with services.store.engine.connect() as conn:
        result = conn.execute(text("SELECT parcel_id, sale_price FROM curated_parcels"))
        stored = {str(key): price for key, price in result}
    assert [stored[k] for k in keys] == [float(t) for t in texts]


@pytest.mark.parametrize(
    ("dataset", "sample"),
    [
        ("parcels", "parcels_drift_add_column.xlsx"),
        ("edge_telemetry", "edge_telemetry_drift_add_column.csv"),
    ],
)
def test_drifted_sample_under_fail_is_rejected_and_keeps_the_schema_history(
    services, samples_dir, contracts_dir, dataset, sample
) -> None:
    first = load_baseline(services, samples_dir, dataset)
    before = schema_history(services, dataset)
    set_contract_meta(contracts_dir, dataset, drift_policy="fail")

    row = ingest(services, samples_dir / sample, dataset)

    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    assert row["error"]["code"] == "schema_drift"
    assert schema_history(services, dataset) == before
    assert curated_count(services, dataset) == SAMPLE_ROWS
    assert curated_count(services, dataset, ingestion_id=first["id"]) == SAMPLE_ROWS
    assert ADDED_COLUMN[dataset] not in curated_columns(services, dataset)
    assert curated_columns(services, dataset).get(KEYS[dataset]) == "text"
    if dataset == "parcels":
        assert curated_columns(services, dataset)["sale_price"] == "double precision"
    changes = drift_changes(services, row["id"])
    assert changes and all(c["breaking"] for c in changes if c["mode"] == "fail")
    assert artifacts(services, row["id"])["lineage"]["eventType"] == "FAIL"

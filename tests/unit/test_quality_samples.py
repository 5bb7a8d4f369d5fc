"""The handout samples against the repo's contracts: valid files pass, duplicate keys fail the gate."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from eventpulse.contracts.loader import load_contract
from eventpulse.quality.gate import QualityGate, QualityReport

pytest.importorskip("great_expectations")

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "samples"

pytestmark = [
    pytest.mark.samples,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"handout samples folder {SAMPLES} is absent"),
]


def run_gate(dataset: str, filename: str, batch_rows: int = 50) -> QualityReport:
    from eventpulse.parse.formats import detect_format
    from eventpulse.parse.readers import ReadOptions, open_source
    from eventpulse.schema.cast import cast_batch

    contract = load_contract(REPO / "contracts", dataset)
    path = SAMPLES / filename
    source = open_source(
        path, detect_format(path.name), ReadOptions(sheet=contract.sheet, batch_rows=batch_rows)
    )
    gate = QualityGate(contract)
    first = 1
    for batch in source.batches():
        cast = cast_batch(batch, contract.schema)
        for column, rows in cast.failures.items():
            gate.add_cast_failures(column, [first + i for i in rows.to_pylist()], cast.samples[column])
        source_rows = pa.array(range(first, first + batch.num_rows), pa.int64())
        gate.feed(cast.batch.append_column("_source_row", source_rows))
        first += batch.num_rows
    return gate.finish()


def failing(report: QualityReport) -> list[tuple[str, str, object]]:
    return [(r.severity, r.expectation_type, r.kwargs.get("column")) for r in report.results if not r.success]


@pytest.mark.parametrize(
    ("dataset", "filename"),
    [("parcels", "parcels_baseline.xlsx"), ("edge_telemetry", "edge_telemetry_sample.csv")],
)
def test_valid_sample_passes_its_contract(dataset: str, filename: str) -> None:
    report = run_gate(dataset, filename)
    assert report.passed, failing(report)
    assert report.rows_evaluated == 120
    assert report.critical_failures == 0


def test_edge_sample_repeating_an_event_id_from_two_devices_passes() -> None:
    """The handout's edge duplicate repeats one event_id from rpi-01 and rpi-02: under the key
    (device_id, event_id) of issue 8 those are two devices' rows, not a duplicate."""
    report = run_gate("edge_telemetry", "edge_telemetry_quality_fail_duplicate_pk.csv")
    assert report.passed and report.critical_failures == 0
    unique = next(r for r in report.results if r.expectation_type == "expect_compound_columns_to_be_unique")
    assert unique.success


@pytest.mark.parametrize(
    ("dataset", "filename", "key"),
    [("parcels", "parcels_quality_fail_duplicate_pk.xlsx", "parcel_id")],
)
def test_duplicate_primary_key_sample_fails_on_uniqueness(dataset: str, filename: str, key: str) -> None:
    report = run_gate(dataset, filename)
    assert not report.passed
    assert failing(report) == [("critical", "expect_column_values_to_be_unique", key)]
    unique = next(r for r in report.results if r.expectation_type == "expect_column_values_to_be_unique")
    assert len(unique.failing_rows) == 2 and len(set(unique.sample_values)) == 1

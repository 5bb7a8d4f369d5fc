"""A multi-batch file with repeated keys fails the bounded gate with GX's report (real pipeline, Postgres).

The compiled gate checks whole-file uniqueness from a hash per row and an exact re-check of the rows
whose hash repeats (quality/bounded.py); Great Expectations (``gate_engine="gx"``) judges the same
file from the whole column. Both reports must say the same, row for row.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eventpulse.bootstrap import build_services
from eventpulse.states import Status
from tests.helpers import artifacts, curated_count, ingest
from tests.integration.evolution_support import write_contract, write_csv

BATCH_ROWS = 7
ROWS = 60
REPEATS = {3: 41, 10: 55, 20: 59}
"""0-based row -> a later 0-based row (in another batch) that repeats its key."""


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return replace(settings, batch_rows=BATCH_ROWS)


def _file(tmp_path: Path) -> Path:
    keys = [f"k{i}" for i in range(ROWS)]
    for first, later in REPEATS.items():
        keys[later] = keys[first]
    rows = [[key, str(i), str(i * 2)] for i, key in enumerate(keys)]
    return write_csv(tmp_path / "dupes.csv", ["id", "a", "b"], rows)


def _unique_result(services: Any, path: Path, dataset: str) -> dict[str, Any]:
    row = ingest(services, path, dataset)
    assert row["status"] == Status.FAILED_QUALITY, row["error"]
    assert curated_count(services, dataset) == 0
    report = artifacts(services, row["id"])["quality"]
    assert report["passed"] is False and report["rows_evaluated"] == ROWS
    (unique,) = [r for r in report["results"] if r["expectation_type"] == "expect_column_values_to_be_unique"]
    return dict(unique)


def test_repeated_keys_across_batches_fail_with_the_same_report_as_gx(
    services, settings, contracts_dir, tmp_path
) -> None:
    for dataset in ("dupes", "dupes_gx"):
        write_contract(contracts_dir, dataset, columns={"a": "integer", "b": "integer"}, drift_policy={})
    path = _file(tmp_path)

    ours = _unique_result(services, path, "dupes")

    expected_rows = sorted([f + 1 for f in REPEATS] + [later + 1 for later in REPEATS.values()])
    assert ours["engine"] == "compiled" and ours["success"] is False
    assert ours["unexpected_count"] == 6 and ours["unexpected_percent"] == 10.0
    assert ours["failing_rows"] == expected_rows
    assert ours["sample_values"] == ["k3", "k10", "k20", "k3", "k10", "k20"]  # in row order

    gx_services = build_services(replace(settings, gate_engine="gx"))
    try:
        theirs = _unique_result(gx_services, path, "dupes_gx")
    finally:
        gx_services.close()
    assert theirs.pop("engine") == "gx"
    ours.pop("engine")
    assert ours == theirs

"""A replay through the real pipeline into a table that already holds the file's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.adapters.postgres import curated
from eventpulse.landing.register import register_path, replay
from eventpulse.pipeline.device_alerts import TELEMETRY_DATASET
from eventpulse.states import Status
from tests.helpers import curated_count
from tests.integration.api_support import edge_csv


def test_replaying_a_loaded_file_rewrites_no_row_and_says_so(
    services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file this small is merged by comparison (no fetch of the table's hashes) unless told otherwise:
    # here the skip by row hash is exercised through the whole pipeline.
    monkeypatch.setattr(curated, "PREDIFF_MIN_BYTES", 0)
    path = edge_csv(tmp_path, rows=6, seed=11)
    original = register_path(services, path=path, dataset=TELEMETRY_DATASET, source="test", actor="test")
    first_id = original.ingestion["id"]

    replayed = replay(services, first_id, actor="test")

    with services.store.read() as tx:
        row = tx.ingestions.get(replayed["id"])
        load = tx.ingestions.artifacts(replayed["id"])["load"]
    assert row is not None and row["status"] == Status.LOADED, row
    assert row["rows_loaded"] == 6
    counts = {k: load[k] for k in ("rows_staged", "inserted", "updated", "unchanged")}
    assert counts == {"rows_staged": 6, "inserted": 0, "updated": 0, "unchanged": 6}
    assert load["skipped"] == 6  # their row hashes were in the table: no row reached the merge
    # Every row still carries the lineage of the load that wrote it.
    assert curated_count(services, TELEMETRY_DATASET, ingestion_id=replayed["id"]) == 0
    assert curated_count(services, TELEMETRY_DATASET, ingestion_id=first_id) >= 6
    with services.store.engine.connect() as conn:
        shas = conn.execute(text(f'SELECT DISTINCT _source_sha256 FROM "curated_{TELEMETRY_DATASET}"'))
        assert [s for (s,) in shas]  # lineage columns are filled

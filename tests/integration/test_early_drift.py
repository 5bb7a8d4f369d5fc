"""A rejected file ends as soon as the evidence is conclusive (real pipeline, real Postgres).

A header change the policy rejects ends FAILED_DRIFT before any row is read; a type change it rejects
ends the load at the first batch that proves it. Held (quarantine) and accepted files are still read
to the end. See docs/SCHEMA_DRIFT.md, "When the decision is taken".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eventpulse.contracts.loader import load_contract
from eventpulse.errors import ReadError
from eventpulse.parse.readers import ReadOptions, open_source
from eventpulse.pipeline.baseline import known_schema
from eventpulse.schema.drift import DriftDecision, decide_drift
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.states import Status
from tests.helpers import artifacts, curated_count, ingest
from tests.integration.evolution_support import write_contract, write_csv

DATASET = "early"
BATCH_ROWS = 10
ROWS = 100
HEADER = ["id", "a", "b"]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """Small batches, so that "the batch that proves it" is a small part of the file."""
    return replace(settings, batch_rows=BATCH_ROWS)


def _contract(contracts_dir: Path, **policy: str) -> None:
    write_contract(contracts_dir, DATASET, columns={"a": "integer", "b": "integer"}, drift_policy=policy)


def _rows(header: list[str], *, changed: dict[str, tuple[int, str]] | None = None) -> list[list[str]]:
    """ROWS rows of integers; ``changed`` maps a column to (first 0-based row, value) from there on."""
    changed = changed or {}
    rows = []
    for i in range(ROWS):
        row = [f"k{i}"]
        for column in header[1:]:
            start, value = changed.get(column, (ROWS, ""))
            row.append(value if i >= start else str(i))
        rows.append(row)
    return rows


def _file(tmp_path: Path, header: list[str], **changed: tuple[int, str]) -> Path:
    return write_csv(tmp_path / f"{DATASET}.csv", header, _rows(header, changed=changed))


def _full_read_decision(contracts_dir: Path, path: Path) -> DriftDecision:
    """What deciding on the whole file decides: every batch inferred, then ``decide_drift``."""
    contract = load_contract(contracts_dir, DATASET)
    inferrer = SchemaInferrer.for_format("csv")
    for batch in open_source(path, "csv", ReadOptions(batch_rows=BATCH_ROWS)).batches():
        inferrer.feed(batch)
    return decide_drift(known_schema(contract, None), inferrer.result(), contract.drift_policy)


def _drift(services: Any, row: dict[str, Any]) -> dict[str, Any]:
    return dict(artifacts(services, row["id"])["drift"])


def _change_list(decision: dict[str, Any]) -> list[tuple[str, str, str | None, str | None, str]]:
    return [(c["kind"], c["column"], c["before"], c["after"], c["mode"]) for c in decision["changes"]]


def test_a_rejected_header_ends_failed_drift_without_reading_an_unreadable_body(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir, removed_columns="fail")
    path = tmp_path / f"{DATASET}.csv"
    # Column b is missing, and no row after the header can be parsed (each has the wrong field count).
    path.write_text("id,a\n" + "".join(f"k{i},{i},extra,fields,here\n" for i in range(50)))
    with pytest.raises(ReadError, match="fields"):  # reading the body would end in a read error
        list(open_source(path, "csv", ReadOptions(batch_rows=BATCH_ROWS)).batches())

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    assert row["error"]["code"] == "schema_drift"
    assert "column 'b' is missing" in row["error"]["message"]
    assert row["rows_processed"] == 0 and row["rows_total"] is None
    drift = _drift(services, row)
    assert (
        drift["decided"]["on"] == "header" and "types of its columns are unknown" in drift["decided"]["note"]
    )
    assert drift["observed_schema"] == {"columns": [{"name": "id"}, {"name": "a"}]}
    lineage = artifacts(services, row["id"])["lineage"]
    assert lineage["eventType"] == "FAIL"
    assert curated_count(services, DATASET) == 0


@pytest.mark.parametrize(
    ("policy", "header", "reason"),
    [
        ({"new_columns": "fail"}, ["id", "a", "b", "x"], "new column 'x'"),
        # A NOT NULL column cannot load as null, so its absence rejects under allow too.
        ({"removed_columns": "allow"}, ["a", "b"], "column 'id' is missing"),
    ],
)
def test_a_header_change_the_policy_rejects_reads_no_row(
    services, contracts_dir: Path, tmp_path: Path, policy: dict[str, str], header: list[str], reason: str
) -> None:
    _contract(contracts_dir, **policy)
    path = _file(tmp_path, header)

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    assert reason in row["error"]["message"]
    assert row["rows_processed"] == 0
    full = _full_read_decision(contracts_dir, path)
    assert full.outcome == "reject"  # the same outcome as deciding on the whole file
    early_changes = {(kind, column) for kind, column, *_ in _change_list(_drift(services, row)["decision"])}
    assert early_changes <= {(c.kind, c.column) for c in full.changes}


def test_a_type_change_is_rejected_at_the_first_batch_that_proves_it(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir, type_changes="fail")
    path = _file(tmp_path, HEADER, b=(35, "$1,234.00"))  # currency text from row 36, in batch 4

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    assert "column 'b' changed from integer to string" in row["error"]["message"]
    assert row["rows_processed"] == 4 * BATCH_ROWS  # not the file's 100 rows
    assert row["rows_total"] is None  # the rest of the file was not read
    drift = _drift(services, row)
    assert drift["decided"] == {
        "on": "rows",
        "rows_read": 4 * BATCH_ROWS,
        "note": drift["decided"]["note"],
    }
    assert {c["name"]: c["type"] for c in drift["observed_schema"]["columns"]}["b"] == "string"
    assert curated_count(services, DATASET) == 0  # the three batches already sent were rolled back
    assert _change_list(drift["decision"]) == _change_list(_full_read_decision(contracts_dir, path).to_dict())


def test_an_early_reject_names_what_it_saw_and_the_full_read_only_adds_to_it(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir, type_changes="fail")
    # b turns into a number in batch 2 (rejected: integer -> number), a into text in batch 6.
    path = _file(tmp_path, HEADER, b=(12, "1.5"), a=(55, "n/a"))

    row = ingest(services, path, DATASET)

    full = _full_read_decision(contracts_dir, path)
    assert row["status"] == Status.FAILED_DRIFT and full.outcome == "reject"
    assert row["rows_processed"] == 2 * BATCH_ROWS
    early = _change_list(_drift(services, row)["decision"])
    assert early == [("type_widened", "b", "integer", "number", "fail")]
    assert set(early) < set(_change_list(full.to_dict()))  # the full read also sees a's change


def test_a_held_header_change_does_not_stop_a_later_reject(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir, new_columns="quarantine", type_changes="fail")
    path = _file(tmp_path, [*HEADER, "x"], b=(55, "$5.00"))  # x alone would hold the file

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    assert row["rows_processed"] == 6 * BATCH_ROWS
    assert _full_read_decision(contracts_dir, path).outcome == "reject"


def test_a_file_held_for_review_is_read_to_the_end(services, contracts_dir: Path, tmp_path: Path) -> None:
    _contract(contracts_dir, new_columns="quarantine", type_changes="quarantine")
    path = _file(tmp_path, [*HEADER, "x"], b=(15, "$5.00"))

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.QUARANTINED, row["error"]
    assert row["rows_processed"] == ROWS and row["rows_total"] == ROWS
    drift = _drift(services, row)
    assert drift["decided"] == {"on": "file", "rows_read": ROWS}
    observed = {c["name"]: c["type"] for c in drift["observed_schema"]["columns"]}
    assert observed == {"id": "string", "a": "integer", "b": "string", "x": "integer"}  # all typed


def test_values_that_fit_the_known_type_late_in_the_file_still_load(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir, type_changes="fail")
    path = _file(tmp_path, HEADER, b=(75, "1999.0"))  # a zero fraction casts to integer losslessly

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.LOADED, row["error"]
    assert row["rows_processed"] == ROWS
    assert curated_count(services, DATASET) == ROWS

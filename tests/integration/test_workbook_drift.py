"""Workbooks on the real pipeline: a sheet added to or removed from a known workbook is a drift
event, and a sheet (or a CSV file) whose header sits below title rows loads with correct source rows.
Real workbooks (xlsxwriter), real Postgres, the inline queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from eventpulse.states import Status
from tests.helpers import artifacts, ingest
from tests.integration.evolution_support import write_contract

DATASET = "workbooks"
HEADER = ["id", "price", "city"]


def _book(path: Path, sheets: Sequence[str], *, top: Sequence[Sequence[Any]] = (), start: int = 0) -> Path:
    """A workbook whose first sheet holds ``top`` rows, the header, then 5 rows; other sheets notes."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    first = book.add_worksheet(sheets[0])
    for r, row in enumerate(top):
        first.write_row(r, 0, row)
    first.write_row(len(top), 0, HEADER)
    for i in range(5):
        first.write_row(len(top) + 1 + i, 0, [f"k{start + i}", 100 + start + i, "Denver"])
    for name in sheets[1:]:
        book.add_worksheet(name).write(0, 0, "notes")
    book.close()
    return path


def _contract(contracts_dir: Path) -> None:
    write_contract(contracts_dir, DATASET, columns={"price": "integer", "city": "string"}, drift_policy={})


def _source_rows(services: Any, ingestion_id: Any) -> list[tuple[str, int, int]]:
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                f'SELECT id, price, _source_row FROM "curated_{DATASET}" WHERE _ingestion_id = :i ORDER BY id'
            ),
            {"i": ingestion_id},
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _sheet_changes(services: Any, row: dict[str, Any]) -> list[tuple[str, str, str]]:
    changes = artifacts(services, row["id"])["drift"]["decision"]["changes"]
    return [(c["kind"], c["column"], c["mode"]) for c in changes if c["kind"].startswith("sheet_")]


def test_a_sheet_added_to_or_removed_from_a_known_workbook_is_a_drift_event(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    first = ingest(services, _book(tmp_path / "a.xlsx", ["Data", "Notes"]), DATASET)
    assert first["status"] == Status.LOADED, first["error"]
    assert _sheet_changes(services, first) == []  # the first workbook is what is known
    assert artifacts(services, first["id"])["drift"]["read"] == {
        "sheet": 0,
        "sheets": ["Data", "Notes"],
        "header_row": 1,
    }

    added = ingest(services, _book(tmp_path / "b.xlsx", ["Data", "Notes", "Summary"], start=5), DATASET)

    assert added["status"] == Status.LOADED, added["error"]  # warn: reported, the file loads
    assert _sheet_changes(services, added) == [("sheet_added", "Summary", "warn")]

    removed = ingest(services, _book(tmp_path / "c.xlsx", ["Data", "Summary"], start=10), DATASET)

    assert removed["status"] == Status.LOADED, removed["error"]
    assert _sheet_changes(services, removed) == [("sheet_removed", "Notes", "warn")]
    again = ingest(services, _book(tmp_path / "d.xlsx", ["Data", "Summary"], start=15), DATASET)
    assert _sheet_changes(services, again) == []  # compared with the last workbook loaded


def test_a_title_row_workbook_loads_with_correct_source_rows(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    path = _book(tmp_path / "report.xlsx", ["Data"], top=[["Parcel sales, March 2024"], []])

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.LOADED, row["error"]
    assert artifacts(services, row["id"])["drift"]["read"]["header_row"] == 3
    assert _source_rows(services, row["id"]) == [(f"k{i}", 100 + i, i + 1) for i in range(5)]
    assert row["rows_loaded"] == 5


def test_a_title_row_workbook_reports_failing_rows_as_data_rows(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    import xlsxwriter

    path = tmp_path / "bad.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Data")
    sheet.write(0, 0, "Parcel sales")
    sheet.write_row(2, 0, HEADER)
    sheet.write_row(3, 0, ["k0", 1, "a"])
    sheet.write_row(4, 0, [None, 2, "b"])  # data row 2 lacks its key
    book.close()

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.FAILED_QUALITY
    quality = artifacts(services, row["id"])["quality"]
    (failed,) = [r for r in quality["results"] if not r["success"]]
    assert failed["expectation_type"] == "expect_column_values_to_not_be_null"
    assert failed["failing_rows"] == [2]


def test_a_title_line_csv_loads_with_correct_source_rows(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    path = tmp_path / "report.csv"
    lines = [f"k{i};{100 + i};Denver" for i in range(4)]
    path.write_text("Parcel sales March 2024\n\nid;price;city\n" + "\n".join(lines) + "\n")

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.LOADED, row["error"]
    assert artifacts(services, row["id"])["drift"]["read"] == {"header_row": 3}
    assert _source_rows(services, row["id"]) == [(f"k{i}", 100 + i, i + 1) for i in range(4)]

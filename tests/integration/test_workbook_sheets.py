"""A workbook with several sheets is ingested sheet by sheet: the sheet is part of an ingestion's identity.

Real workbooks (written with xlsxwriter, as the demo generator does), the real API and CLI, Postgres.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import text

from eventpulse.api.app import create_app
from eventpulse.cli import main
from eventpulse.demo.generator import columns_for, generate_rows
from eventpulse.states import Status
from tests.helpers import set_contract_meta
from tests.integration.api_support import AUTH, upload

DATASET = "edge_telemetry"
SHEETS = {"North": 3, "South": 4}
"""Sheet name -> rows, in workbook order (North is the first sheet)."""


def write_workbook(path: Path) -> dict[str, list[str]]:
    """A workbook with one sheet per SHEETS entry, disjoint keys; returns each sheet's event ids."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": datetime(2024, 1, 1)})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    header = columns_for(DATASET, "baseline")
    ids: dict[str, list[str]] = {}
    start = 0
    for name, count in SHEETS.items():
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, header)
        rows = list(generate_rows(DATASET, "baseline", count, start=start))
        for r, row in enumerate(rows, start=1):
            for c, column in enumerate(header):
                _write_cell(sheet, r, c, row[column], stamp)
        ids[name] = sorted(str(row["event_id"]) for row in rows)
        start += count
    book.close()
    return ids


def _write_cell(sheet: Any, r: int, c: int, value: Any, stamp: Any) -> None:
    if value is None:
        return
    if isinstance(value, str):
        sheet.write_string(r, c, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(r, c, value, stamp)
    else:
        sheet.write_number(r, c, value)


@pytest.fixture
def book(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    path = tmp_path / "readings.xlsx"
    return path, write_workbook(path)


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def curated_ids(services, ingestion_id: Any) -> list[str]:
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            text(f'SELECT event_id FROM "curated_{DATASET}" WHERE _ingestion_id = :i ORDER BY event_id'),
            {"i": ingestion_id},
        ).scalars()
        return [str(r) for r in rows]


def upload_book(client: FlaskClient, path: Path, **params: str) -> tuple[int, dict[str, Any]]:
    response = upload(client, path.read_bytes(), filename=path.name, **params)
    return response.status_code, response.get_json()


def test_each_sheet_of_a_workbook_is_its_own_ingestion_through_the_api(services, client, book) -> None:
    path, ids = book
    south_status, south = upload_book(client, path, sheet="South")
    north_status, north = upload_book(client, path, sheet="North")

    assert (south_status, north_status) == (202, 202)
    assert south["id"] != north["id"] and south["sha256"] == north["sha256"]
    for body, name in ((south, "South"), (north, "North")):
        assert body["status"] == Status.LOADED, body["error"]
        assert (body["sheet"], body["options"], body["rows_loaded"]) == (name, {"sheet": name}, SHEETS[name])
        assert curated_ids(services, body["id"]) == ids[name]


def test_the_same_sheet_uploaded_again_is_deduplicated(services, client, book) -> None:
    path, _ = book
    _, first = upload_book(client, path, sheet="South")
    status, again = upload_book(client, path, sheet="South")
    assert status == 200 and again["deduplicated"] is True and again["id"] == first["id"]
    assert "these bytes (sheet 'South') were already registered" in again["duplicate"]["message"]


def test_without_a_sheet_the_first_sheet_is_read_and_a_repeat_is_deduplicated(services, client, book) -> None:
    path, ids = book
    status, first = upload_book(client, path)
    assert status == 202 and first["status"] == Status.LOADED, first["error"]
    assert (first["sheet"], first["options"], first["rows_loaded"]) == ("", {"sheet": 0}, SHEETS["North"])
    assert curated_ids(services, first["id"]) == ids["North"]
    status, again = upload_book(client, path)
    assert status == 200 and again["id"] == first["id"]


def test_the_contracts_sheet_is_the_identity_when_the_upload_names_none(
    services, client, book, contracts_dir
) -> None:
    path, ids = book
    set_contract_meta(contracts_dir, DATASET, sheet="South")
    _, unnamed = upload_book(client, path)
    status, named = upload_book(client, path, sheet="South")
    assert unnamed["status"] == Status.LOADED, unnamed["error"]
    assert unnamed["sheet"] == "South" and curated_ids(services, unnamed["id"]) == ids["South"]
    assert status == 200 and named["id"] == unnamed["id"]  # the same sheet, asked for two ways


def test_a_contracts_sheet_index_reads_that_sheet(services, client, book, contracts_dir) -> None:
    path, ids = book
    set_contract_meta(contracts_dir, DATASET, sheet=1)
    _, body = upload_book(client, path)
    assert body["status"] == Status.LOADED, body["error"]
    assert (body["sheet"], body["options"]) == ("[1]", {"sheet": 1})
    assert curated_ids(services, body["id"]) == ids["South"]


def test_replay_of_the_second_sheets_ingestion_reads_the_second_sheet(services, client, book) -> None:
    path, ids = book
    upload_book(client, path, sheet="North")
    _, south = upload_book(client, path, sheet="South")

    response = client.post(f"/api/ingestions/{south['id']}/replay", headers=AUTH)

    assert response.status_code == 202, response.get_json()
    replayed = client.get(f"/api/ingestions/{response.get_json()['id']}", headers=AUTH).get_json()
    assert replayed["replay_of"] == south["id"]
    assert (replayed["status"], replayed["sheet"], replayed["options"]) == (
        "LOADED",
        "South",
        {"sheet": "South"},
    )
    assert replayed["rows_loaded"] == SHEETS["South"]
    # The replay read South's rows again: equal to what is loaded, so none is rewritten and each keeps
    # the lineage of South's first ingestion (docs/LINEAGE.md, "Upserts").
    load = replayed["artifacts"]["load"]
    assert (load["inserted"], load["updated"], load["unchanged"]) == (0, 0, SHEETS["South"])
    assert curated_ids(services, replayed["id"]) == []
    assert curated_ids(services, south["id"]) == ids["South"]


def test_a_missing_sheet_fails_read_naming_the_sheets_that_exist(services, client, book) -> None:
    path, _ = book
    status, body = upload_book(client, path, sheet="East")
    assert status == 202
    assert body["status"] == Status.FAILED_READ and body["attempts"] == 1
    error = body["error"]
    assert error["code"] == "read_error"
    assert "'readings.xlsx'" in error["message"] and "'East'" in error["message"]
    assert "North" in error["message"] and "South" in error["message"]
    assert error["details"]["sheets"] == list(SHEETS)
    assert error["hint"]


def cli(services, *args: str) -> Any:
    s = services.settings
    env = {
        "EVENTPULSE_DATA_DIR": str(s.data_dir),
        "DATABASE_URL": str(s.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(s.contracts_dir),
    }
    return CliRunner().invoke(main, ["ingest", *args, "--dataset", DATASET, "--local", "--json"], env=env)


def test_each_sheet_is_ingested_with_the_cli_and_a_repeat_is_deduplicated(services, book) -> None:
    path, ids = book
    results = {name: cli(services, str(path), "--sheet", name) for name in SHEETS}
    bodies = {name: json.loads(result.stdout) for name, result in results.items()}
    for name, result in results.items():
        assert result.exit_code == 0, result.output
        assert bodies[name]["status"] == "LOADED" and bodies[name]["rows_loaded"] == SHEETS[name]
        assert curated_ids(services, bodies[name]["id"]) == ids[name]
    again = cli(services, str(path), "--sheet", "South")
    assert again.exit_code == 0, again.output
    repeat = json.loads(again.stdout)
    assert repeat["deduplicated"] is True and repeat["id"] == bodies["South"]["id"]


def test_the_cli_refuses_a_sheet_for_a_csv_as_a_usage_error(services, tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    result = cli(services, str(path), "--sheet", "South")
    assert result.exit_code == 2, result.output
    assert "not a workbook" in result.stderr

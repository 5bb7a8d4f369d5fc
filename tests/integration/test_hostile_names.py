"""Hostile dataset, file and column names through the HTTP API and the real pipeline (real Postgres).

Names a client controls never reach a filesystem path or SQL unquoted: dataset names are validated,
raw keys are built from the dataset and the content hash only, stored file names lose any path part
and control characters, and headers become safe identifiers (docs/SCHEMA_DRIFT.md, "Column names").
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.api.app import create_app
from eventpulse.states import Status
from tests.helpers import curated_columns, curated_count, ingest, schema_versions
from tests.integration.api_support import edge_csv, upload


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def count_ingestions(services) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestions)).scalar_one())


def public_tables(services) -> set[str]:
    with services.store.engine.connect() as conn:
        return set(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )


def all_tables_count(services) -> int:
    with services.store.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
            ).scalar_one()
        )


# --- dataset names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset",
    [
        "../x",
        "x;drop table y",
        "ÜNICODE",
        "a" * 64,
        "",
        "   ",
        "1abc",
        "_private",
        "edge-telemetry",
        "edge_telemetry/../parcels",
        "edge_telemetry\x00",
        "edge\ntelemetry",
    ],
    ids=repr,
)
def test_hostile_dataset_name_is_refused_with_400_and_registers_nothing(
    client, services, tmp_path, dataset
) -> None:
    before = public_tables(services)
    response = upload(client, edge_csv(tmp_path).read_bytes(), dataset=dataset)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "bad_request"
    assert "^[a-z][a-z0-9_]{0,62}$" in error["hint"]
    assert count_ingestions(services) == 0
    assert public_tables(services) == before
    raw = services.settings.raw_dir
    assert not (raw.exists() and any(p.is_file() for p in raw.rglob("*")))


def test_longest_valid_dataset_name_without_a_contract_is_404_naming_the_contract_file(
    client, services, tmp_path
) -> None:
    name = "a" * 63
    response = upload(client, edge_csv(tmp_path).read_bytes(), dataset=name)
    assert response.status_code == 404, response.get_json()
    assert f"contracts/{name}.json" in response.get_json()["error"]["hint"]
    assert count_ingestions(services) == 0


def add_contract_copy(contracts_dir: Path, source: str, name: str) -> None:
    suite = json.loads((contracts_dir / f"{source}.json").read_text())
    suite["name"] = name
    (contracts_dir / f"{name}.json").write_text(json.dumps(suite))


@pytest.mark.parametrize("given", ["Upper", "UPPER", " upper "])
def test_uppercase_dataset_name_is_lowercased_and_accepted_when_a_contract_exists(
    client, services, contracts_dir, tmp_path, given
) -> None:
    add_contract_copy(contracts_dir, "edge_telemetry", "upper")
    response = upload(client, edge_csv(tmp_path).read_bytes(), dataset=given)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["dataset"] == "upper"
    assert body["status"] == "LOADED", body.get("error")
    assert body["raw_key"].startswith("upper/")
    assert curated_count(services, "upper") == 5


def test_uppercase_dataset_name_without_a_contract_is_404(client, services, tmp_path) -> None:
    response = upload(client, edge_csv(tmp_path).read_bytes(), dataset="Upper")
    assert response.status_code == 404
    assert "contracts/upper.json" in response.get_json()["error"]["hint"]
    assert count_ingestions(services) == 0


# --- file names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("..\\..\\windows\\win.ini.csv", "win.ini.csv"),
        ("a\nb.csv", "ab.csv"),
        ("a\r\n\tb\x1b[31m.csv", "ab[31m.csv"),
        ("名前.csv", "名前.csv"),
        ("Cafe\u0301.csv", "Café.csv"),  # decomposed accent: stored NFC
        ("'; DROP TABLE ingestions;--.csv", "'; DROP TABLE ingestions;--.csv"),
        ("x" * 251 + ".csv", "x" * 251 + ".csv"),  # 255 characters: the most that is kept
    ],
    ids=["traversal", "absolute", "windows", "newline", "controls", "cjk", "nfd", "sql", "255-chars"],
)
def test_hostile_file_name_is_stored_without_path_or_control_characters(
    client, services, tmp_path, filename, stored
) -> None:
    before = public_tables(services)
    response = upload(client, edge_csv(tmp_path, seed=21).read_bytes(), filename=filename)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "LOADED", body.get("error")
    assert body["filename"] == stored
    assert "/" not in body["filename"] and "\\" not in body["filename"]
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in body["filename"])
    assert body["raw_key"] == f"edge_telemetry/{body['sha256']}.csv"  # never the client's name
    raw_root = services.settings.raw_dir.resolve()
    assert [p.relative_to(raw_root).as_posix() for p in raw_root.rglob("*") if p.is_file()] == [
        body["raw_key"]
    ]
    assert not (services.settings.data_dir.parent / "etc").exists()
    assert public_tables(services) == before | {"curated_edge_telemetry"}


@pytest.mark.parametrize("stem", ["y" * 296, "名" * 296], ids=["ascii", "cjk"])
def test_300_character_file_name_is_accepted_and_shortened_keeping_its_extension(
    client, services, tmp_path, stem
) -> None:
    response = upload(client, edge_csv(tmp_path, seed=22).read_bytes(), filename=stem + ".csv")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert len(body["filename"]) <= 255 and body["filename"].endswith(".csv")
    assert body["raw_key"] == f"edge_telemetry/{body['sha256']}.csv"


@pytest.mark.parametrize("filename", ["", "   ", "..", "../", "\n", "/", "\x00"])
def test_file_name_with_nothing_left_after_cleaning_is_400(client, services, tmp_path, filename) -> None:
    response = upload(client, edge_csv(tmp_path).read_bytes(), filename=filename)
    assert response.status_code == 400, response.get_json()
    assert "filename" in response.get_json()["error"]["message"]
    assert count_ingestions(services) == 0


@pytest.mark.parametrize("filename", ["passwd", "x.csv.exe", "x.csv/y", "x.CSV\x00.exe", ".csv", "a/"])
def test_file_name_without_an_accepted_extension_is_415(client, services, tmp_path, filename) -> None:
    response = upload(client, edge_csv(tmp_path).read_bytes(), filename=filename)
    assert response.status_code == 415, response.get_json()
    assert ".csv" in response.get_json()["error"]["hint"]
    assert count_ingestions(services) == 0


# --- column names --------------------------------------------------------------------------------

HOSTILE_HEADER = ["id", "drop table x;--", "Sale Price ($)", "Café", "", "_ingestion_id", "名前", "2nd"]
SAFE_COLUMNS = ["id", "drop_table_x", "sale_price", "cafe", "column_5", "c_ingestion_id", "column_7", "c_2nd"]
HOSTILE_ROWS = [
    ["k1", "'; DROP TABLE datasets;--", "12.5", "crème", "blank header", "not lineage", "ja", "two"],
    ["k2", "x", "7", "naïve", "", "", "", ""],
]


def write_hostile_contract(contracts_dir: Path, columns: list[str]) -> None:
    """A contract for dataset ``hostile``: string columns, ``id`` the key (docs/CONTRACTS.md)."""
    declared: dict[str, object] = {name: "string" for name in columns}
    declared["id"] = {"type": "string", "nullable": False}
    if "sale_price" in declared:
        declared["sale_price"] = "number"
    suite = {
        "name": "hostile",
        "meta": {"eventpulse": {"primary_key": ["id"], "columns": declared}},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        ],
    }
    (contracts_dir / "hostile.json").write_text(json.dumps(suite, indent=2))


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def write_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_hostile_contract_is_valid(contracts_dir) -> None:
    from eventpulse.contracts.loader import load_contract
    from eventpulse.quality.gx_runner import check_contract

    write_hostile_contract(contracts_dir, SAFE_COLUMNS)
    check_contract(load_contract(contracts_dir, "hostile"))


def test_hostile_headers_load_under_safe_column_names(services, contracts_dir, tmp_path) -> None:
    write_hostile_contract(contracts_dir, SAFE_COLUMNS)
    before_count = all_tables_count(services)
    before = public_tables(services)

    row = ingest(
        services, write_file(tmp_path, "hostile.csv", csv_bytes(HOSTILE_HEADER, HOSTILE_ROWS)), "hostile"
    )

    assert row["status"] == Status.LOADED, row["error"]
    assert row["rows_loaded"] == len(HOSTILE_ROWS)
    columns = curated_columns(services, "hostile")
    assert list(columns)[: len(SAFE_COLUMNS)] == SAFE_COLUMNS
    assert columns["sale_price"] == "double precision"
    lineage = [c for c in columns if c.startswith("_")]
    assert "_ingestion_id" in lineage and columns["_ingestion_id"] == "uuid"
    assert len(lineage) == len(set(lineage))
    # Exactly one new table; no SQL in a header or value ran.
    assert public_tables(services) == before | {"curated_hostile"}
    assert all_tables_count(services) == before_count + 1
    with services.store.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT id, drop_table_x, sale_price, cafe, column_5, c_ingestion_id, column_7, c_2nd, "
                "_ingestion_id FROM curated_hostile ORDER BY _source_row"
            )
        ).all()
        datasets = conn.execute(text("SELECT count(*) FROM datasets")).scalar_one()
    assert [tuple(r[:8]) for r in stored] == [
        ("k1", "'; DROP TABLE datasets;--", 12.5, "crème", "blank header", "not lineage", "ja", "two"),
        ("k2", "x", 7.0, "naïve", None, None, None, None),
    ]
    assert {r[8] for r in stored} == {row["id"]}  # lineage is ours, not the file's "_ingestion_id"
    assert datasets >= 1


def test_header_that_spells_a_lineage_column_cannot_overwrite_lineage(
    services, contracts_dir, tmp_path
) -> None:
    header = ["id", "_ingestion_id", "_source_row", "_loaded_at"]
    safe = ["id", "c_ingestion_id", "c_source_row", "c_loaded_at"]
    write_hostile_contract(contracts_dir, safe)
    data = csv_bytes(header, [["k1", "00000000-0000-0000-0000-000000000000", "999", "1970-01-01"]])
    row = ingest(services, write_file(tmp_path, "lineage.csv", data), "hostile")
    assert row["status"] == Status.LOADED, row["error"]
    with services.store.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT c_ingestion_id, c_source_row, _ingestion_id, _source_row FROM curated_hostile")
        ).one()
    assert stored[0] == "00000000-0000-0000-0000-000000000000" and stored[1] == "999"
    assert stored[2] == row["id"] and stored[3] == 1


@pytest.mark.parametrize(
    ("header", "first", "second", "normalized"),
    [
        (["id", "a", "a"], "a", "a", "a"),
        (["id", "A b", "a_b"], "A b", "a_b", "a_b"),
        (["id", "Café", "cafe"], "Café", "cafe", "cafe"),
        (["id", "x!", "x?"], "x!", "x?", "x"),
    ],
    ids=["same", "space-vs-underscore", "accent", "punctuation"],
)
def test_headers_that_normalize_to_the_same_name_fail_read_naming_both(
    services, contracts_dir, tmp_path, header, first, second, normalized
) -> None:
    write_hostile_contract(contracts_dir, ["id", normalized])
    before = public_tables(services)
    data = csv_bytes(header, [["k1", "1", "2"]])

    row = ingest(services, write_file(tmp_path, "dupes.csv", data), "hostile")

    assert row["status"] == Status.FAILED_READ, row["error"]
    error = row["error"]
    assert error["code"] == "read_error"
    assert repr(first) in error["message"] and repr(second) in error["message"]
    assert "position 2" in error["message"] and "position 3" in error["message"]
    assert error["details"]["positions"] == [2, 3]
    assert error.get("hint")
    assert curated_count(services, "hostile") == 0
    assert schema_versions(services, "hostile") == 0
    assert public_tables(services) == before


def test_duplicate_headers_in_xlsx_fail_read_naming_both(services, contracts_dir, tmp_path) -> None:
    import xlsxwriter

    write_hostile_contract(contracts_dir, ["id", "a_b"])
    path = tmp_path / "dupes.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("data")
    sheet.write_row(0, 0, ["id", "A b", "a_b"])
    sheet.write_row(1, 0, ["k1", "1", "2"])
    book.close()
    row = ingest(services, path, "hostile")
    assert row["status"] == Status.FAILED_READ, row["error"]
    assert "'A b'" in row["error"]["message"] and "'a_b'" in row["error"]["message"]


def test_duplicate_keys_in_json_objects_do_not_crash(services, contracts_dir, tmp_path) -> None:
    # JSON objects cannot repeat a key meaningfully (the last wins); two keys that normalize alike can.
    write_hostile_contract(contracts_dir, ["id", "a_b"])
    data = json.dumps([{"id": "k1", "A b": "1", "a_b": "2"}]).encode()
    row = ingest(services, write_file(tmp_path, "dupes.json", data), "hostile")
    assert row["status"] == Status.FAILED_READ, row["error"]
    assert "'A b'" in row["error"]["message"] and "'a_b'" in row["error"]["message"]


def test_header_longer_than_63_characters_is_truncated_to_a_valid_identifier(
    services, contracts_dir, tmp_path
) -> None:
    long_header = "Very Long Header " * 6
    safe = "very_long_header_very_long_header_very_long_header_very_long_he"
    assert len(safe) == 63
    write_hostile_contract(contracts_dir, ["id", safe])
    row = ingest(
        services, write_file(tmp_path, "long.csv", csv_bytes(["id", long_header], [["k1", "v"]])), "hostile"
    )
    assert row["status"] == Status.LOADED, row["error"]
    assert list(curated_columns(services, "hostile"))[:2] == ["id", safe]


def test_sql_in_dataset_contract_file_name_is_not_used(services, contracts_dir) -> None:
    # A contract file whose name is not a valid dataset cannot be reached by any request.
    shutil.copy(contracts_dir / "edge_telemetry.json", contracts_dir / "x;drop table y.json")
    client = create_app(services).test_client()
    response = upload(client, b"a\n1\n", dataset="x;drop table y")
    assert response.status_code == 400
    assert count_ingestions(services) == 0


def test_sql_looking_new_column_is_added_under_a_safe_name_by_evolution(services, tmp_path) -> None:
    # edge_telemetry evolves new columns: the hostile header reaches ALTER TABLE only as a safe identifier.
    base = edge_csv(tmp_path, seed=31).read_text().splitlines()
    assert (
        ingest(
            services, write_file(tmp_path, "base.csv", ("\n".join(base) + "\n").encode()), "edge_telemetry"
        )["status"]
        == Status.LOADED
    )
    tables = all_tables_count(services)
    lines = edge_csv(tmp_path, seed=32).read_text().splitlines()
    lines = [lines[0] + ',"x""); DROP TABLE ingestions;--"'] + [ln + ",evil" for ln in lines[1:]]
    row = ingest(
        services, write_file(tmp_path, "evolve.csv", ("\n".join(lines) + "\n").encode()), "edge_telemetry"
    )
    assert row["status"] == Status.LOADED, row["error"]
    assert "x_drop_table_ingestions" in curated_columns(services, "edge_telemetry")
    assert all_tables_count(services) == tables
    assert count_ingestions(services) == 2
    assert schema_versions(services, "edge_telemetry") == 2


# --- names and widths Postgres itself refuses ------------------------------------------------------


def _evolve(tmp_path: Path, name: str, seed: int, extra: list[str]) -> Path:
    """An edge_telemetry CSV with ``extra`` columns appended (evolution adds them to the table)."""
    lines = edge_csv(tmp_path, seed=seed).read_text().splitlines()
    out = [lines[0] + "," + ",".join(extra)] + [ln + "," + ",".join("1" for _ in extra) for ln in lines[1:]]
    return write_file(tmp_path, name, ("\n".join(out) + "\n").encode())


def test_headers_named_like_postgres_system_columns_load_under_a_prefix(services, tmp_path) -> None:
    row = ingest(
        services, _evolve(tmp_path, "system.csv", 41, ["ctid", "xmin", "TableOid"]), "edge_telemetry"
    )
    assert row["status"] == Status.LOADED, row["error"]
    columns = curated_columns(services, "edge_telemetry")
    assert {"c_ctid", "c_xmin", "c_tableoid"} <= set(columns)
    with services.store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM curated_edge_telemetry WHERE c_ctid = '1'")).scalar() == 5
        )


def test_a_10000_column_csv_fails_read_at_once_saying_why(services, tmp_path) -> None:
    row = ingest(
        services, _evolve(tmp_path, "wide.csv", 42, [f"x{i}" for i in range(10_000)]), "edge_telemetry"
    )
    assert row["status"] == Status.FAILED_READ, row["error"]
    assert row["attempts"] == 1 and row["finished_at"] is not None
    assert row["error"]["details"]["max_columns"] == 1584
    assert "10,014 columns" in row["error"]["message"]
    assert services.landing.exists(row["raw_key"])
    assert curated_count(services, "edge_telemetry") == 0


def test_evolution_past_postgres_1600_columns_fails_drift_at_once_and_keeps_the_table(
    services, tmp_path
) -> None:
    for n in range(2):
        extra = [f"w{n}_{i}" for i in range(700)]
        row = ingest(services, _evolve(tmp_path, f"grow{n}.csv", 50 + n, extra), "edge_telemetry")
        assert row["status"] == Status.LOADED, row["error"]
    loaded = curated_count(services, "edge_telemetry")
    width = len(curated_columns(services, "edge_telemetry"))
    row = ingest(
        services, _evolve(tmp_path, "grow2.csv", 52, [f"w2_{i}" for i in range(700)]), "edge_telemetry"
    )
    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    assert row["attempts"] == 1 and row["finished_at"] is not None  # final at once, never retried
    assert row["error"]["code"] == "curated_table_impossible"
    assert "1,600 columns" in row["error"]["message"]
    assert "54011" not in json.dumps(row["error"])  # the driver's words stay in the log
    assert curated_count(services, "edge_telemetry") == loaded
    assert len(curated_columns(services, "edge_telemetry")) == width  # the DDL rolled back
    assert services.landing.exists(row["raw_key"])

import pytest

from eventpulse.errors import BadRequest, ReadError
from eventpulse.schema.naming import (
    MAX_DATA_COLUMNS,
    RESERVED_COLUMNS,
    ensure_dataset_name,
    normalize_column_names,
)


def test_dataset_name_is_stripped_and_lowercased():
    assert ensure_dataset_name("  Parcels_2024 ") == "parcels_2024"


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "drop table x;--", "a" * 64, "_x"])
def test_invalid_dataset_name_states_the_rule(name):
    with pytest.raises(BadRequest) as exc:
        ensure_dataset_name(name)
    assert "^[a-z][a-z0-9_]{0,62}$" in exc.value.hint


def test_hostile_and_odd_headers_become_safe_identifiers():
    names = ["Sale Price ($)", "drop table x;--", "2024 total", "_ingestion_id", "Café", "", "  ", "Straße"]
    assert normalize_column_names(names) == [
        "sale_price",
        "drop_table_x",
        "c_2024_total",
        "c_ingestion_id",
        "cafe",
        "column_6",
        "column_7",
        "stra_e",
    ]


def test_long_header_is_truncated_to_63():
    assert len(normalize_column_names(["x" * 100])[0]) == 63


def test_colliding_headers_raise_with_both_positions():
    with pytest.raises(ReadError) as exc:
        normalize_column_names(["id", "Zip Code", "zip_code"])
    assert "'Zip Code' (position 2)" in exc.value.message and "'zip_code' (position 3)" in exc.value.message


@pytest.mark.parametrize("name", ["ctid", "xmin", "XMAX", "cmin", "cmax", "tableoid", "oid"])
def test_postgres_system_column_names_get_a_prefix(name):
    assert normalize_column_names(["id", name]) == ["id", "c_" + name.lower()]


def test_a_header_that_only_contains_a_system_name_is_kept():
    assert normalize_column_names(["ctid_2", "my_xmin"]) == ["ctid_2", "my_xmin"]


def test_the_widest_file_a_curated_table_can_hold_is_accepted():
    assert len(normalize_column_names([f"c{i}" for i in range(MAX_DATA_COLUMNS)])) == MAX_DATA_COLUMNS
    assert MAX_DATA_COLUMNS + RESERVED_COLUMNS == 1600


def test_a_file_wider_than_a_curated_table_can_hold_is_a_read_error_naming_both_counts():
    with pytest.raises(ReadError) as caught:
        normalize_column_names([f"c{i}" for i in range(MAX_DATA_COLUMNS + 1)])
    assert "1,585 columns" in caught.value.message and "1,584" in caught.value.message
    assert caught.value.details == {"columns": MAX_DATA_COLUMNS + 1, "max_columns": MAX_DATA_COLUMNS}
    assert "delimiter" in caught.value.hint

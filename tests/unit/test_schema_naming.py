import pytest

from eventpulse.errors import BadRequest, ReadError
from eventpulse.schema.naming import ensure_dataset_name, normalize_column_names


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

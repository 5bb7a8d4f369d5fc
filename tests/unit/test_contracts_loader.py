"""Contract parsing: what a valid contract yields and how invalid ones are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventpulse.contracts.loader import (
    contract_version,
    list_contracts,
    load_contract,
    parse_contract,
    parse_suite,
)
from eventpulse.errors import ContractError

REPO_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def suite(**eventpulse: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "primary_key": ["id"],
        "columns": {"id": {"type": "string", "nullable": False}, "amount": "number"},
    }
    meta.update(eventpulse)
    return {
        "name": "orders",
        "meta": {"eventpulse": meta},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "amount", "min_value": 0},
                "meta": {"severity": "warning"},
            },
        ],
    }


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_valid_contract_yields_schema_key_and_severities() -> None:
    contract = parse_contract("orders", raw(suite()))
    assert contract.primary_key == ("id",)
    assert [(c.name, c.type, c.nullable) for c in contract.schema] == [
        ("id", "string", False),
        ("amount", "number", True),
    ]
    assert [e.severity for e in contract.expectations] == ["critical", "critical", "warning"]
    assert [e.stream_class for e in contract.expectations] == ["row", "columns", "row"]
    assert contract.sheet is None


def test_version_is_the_content_hash_not_the_layout() -> None:
    first = parse_contract("orders", raw(suite()))
    assert len(first.version) == 64
    # Indentation and key order are layout: the same content is the same version, file or API body.
    assert parse_contract("orders", json.dumps(suite(), indent=2).encode()).version == first.version
    reordered = dict(reversed(list(suite().items())))
    assert parse_suite("orders", reordered).version == first.version
    assert contract_version(suite()) == first.version
    # Any change of content is a new version.
    assert parse_contract("orders", raw(suite(sheet="Orders"))).version != first.version


def test_an_api_body_is_validated_like_a_file() -> None:
    with pytest.raises(ContractError) as caught:
        parse_suite("orders", ["not", "an", "object"])
    assert caught.value.details["key"] == "<file>"
    broken = suite()
    broken["expectations"][0]["type"] = "expect_the_moon"
    with pytest.raises(ContractError) as caught:
        parse_suite("orders", broken)
    assert caught.value.details["key"] == "expectations[0].type"


def test_unknown_expectation_type_is_refused_listing_supported_types() -> None:
    doc = suite()
    doc["expectations"].append({"type": "expect_column_values_to_be_awesome", "kwargs": {"column": "id"}})
    with pytest.raises(ContractError) as err:
        parse_contract("orders", raw(doc))
    message = str(err.value)
    assert "orders" in message and "expectations[3].type" in message
    assert "expect_column_values_to_be_awesome" in message
    assert "expect_column_values_to_be_in_set" in message  # the supported list is in the fix


def test_unknown_eventpulse_meta_key_is_refused() -> None:
    with pytest.raises(ContractError, match=r"meta\.eventpulse\.primary_keys: unknown key"):
        parse_contract("orders", raw(suite(primary_keys=["id"])))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"columns": {"id": {"type": "uuid", "nullable": False}}}, "invalid logical type 'uuid'"),
        ({"columns": {"id": {"type": "null", "nullable": False}}}, "invalid logical type 'null'"),
        ({"primary_key": ["amount"]}, "column 'amount' is nullable"),
        ({"primary_key": ["missing"]}, "column 'missing' is not declared"),
        ({"sheet": 1.5}, "meta.eventpulse.sheet"),
        ({"columns": {"id": {"type": "string", "nullable": False, "unique": True}}}, "columns.id.unique"),
    ],
)
def test_invalid_metadata_is_refused(change: dict[str, Any], expected: str) -> None:
    doc = suite(**change)
    if "columns" in change:
        doc["meta"]["eventpulse"]["columns"]["amount"] = "number"
    with pytest.raises(ContractError) as err:
        parse_contract("orders", raw(doc))
    assert expected in str(err.value)
    assert "fix:" in str(err.value)


def test_expectation_on_undeclared_column_is_refused() -> None:
    doc = suite()
    doc["expectations"].append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amt"}})
    with pytest.raises(ContractError, match="undeclared column 'amt'"):
        parse_contract("orders", raw(doc))


def test_invalid_severity_is_refused() -> None:
    doc = suite()
    doc["expectations"][2]["meta"]["severity"] = "fatal"
    with pytest.raises(ContractError, match="invalid severity 'fatal'"):
        parse_contract("orders", raw(doc))


def test_gx_native_severity_is_read_and_must_agree_with_meta() -> None:
    doc = suite()
    doc["expectations"][2] = {**doc["expectations"][2], "severity": "warning"}
    assert parse_contract("orders", raw(doc)).expectations[2].severity == "warning"
    doc["expectations"][2]["severity"] = "info"
    with pytest.raises(ContractError, match="conflicting values"):
        parse_contract("orders", raw(doc))


def test_primary_key_without_critical_uniqueness_check_is_refused() -> None:
    doc = suite()
    doc["expectations"][1]["meta"] = {"severity": "warning"}
    with pytest.raises(ContractError, match="no critical uniqueness expectation"):
        parse_contract("orders", raw(doc))


def test_non_nullable_column_without_not_null_check_is_refused() -> None:
    doc = suite()
    del doc["expectations"][0]
    with pytest.raises(ContractError, match=r"columns\.id\.nullable"):
        parse_contract("orders", raw(doc))


def test_suite_name_must_match_the_dataset() -> None:
    with pytest.raises(ContractError, match='"name": "payments"'):
        parse_contract("payments", raw(suite()))


def test_invalid_drift_policy_is_refused_naming_the_key() -> None:
    with pytest.raises(ContractError, match=r"meta\.eventpulse\.drift_policy"):
        parse_contract("orders", raw(suite(drift_policy="explode")))


def test_missing_contract_names_the_file_to_add_and_the_known_datasets(tmp_path: Path) -> None:
    (tmp_path / "orders.json").write_bytes(raw(suite()))
    with pytest.raises(ContractError) as err:
        load_contract(tmp_path, "payments")
    assert "no contract for dataset 'payments': add contracts/payments.json" in str(err.value)
    assert err.value.details["known_datasets"] == ["orders"]
    assert "orders" in err.value.hint


def test_dataset_names_cannot_escape_the_contracts_folder(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="invalid dataset name"):
        load_contract(tmp_path, "../orders")


def test_repo_contracts_parse() -> None:
    assert list_contracts(REPO_CONTRACTS) == ["edge_telemetry", "parcels"]
    parcels = load_contract(REPO_CONTRACTS, "parcels")
    assert parcels.primary_key == ("parcel_id",) and len(parcels.schema) == 25
    assert {parcels.schema.get(c).type for c in ("zip", "doc_number", "book", "page")} == {"string"}  # type: ignore[union-attr]
    assert {e.severity for e in parcels.expectations} == {"critical", "warning", "info"}
    edge = load_contract(REPO_CONTRACTS, "edge_telemetry")
    assert edge.primary_key == ("device_id", "event_id")  # one device never overwrites another (issue 8)

"""The supported expectation list matches Great Expectations, and the repo's contracts build in GX."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventpulse.contracts.expectation_types import SUPPORTED_EXPECTATIONS
from eventpulse.contracts.loader import list_contracts, load_contract, parse_contract
from eventpulse.errors import ContractError

REPO_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_every_supported_type_exists_in_great_expectations() -> None:
    from great_expectations.expectations.registry import get_expectation_impl

    for name in SUPPORTED_EXPECTATIONS:
        assert get_expectation_impl(name) is not None, name


def test_stream_classes_are_known() -> None:
    assert set(SUPPORTED_EXPECTATIONS.values()) == {"row", "columns", "table"}


@pytest.mark.parametrize("dataset", list_contracts(REPO_CONTRACTS))
def test_repo_contracts_build_in_great_expectations(dataset: str) -> None:
    from eventpulse.quality.gx_runner import check_contract

    check_contract(load_contract(REPO_CONTRACTS, dataset))


def test_kwargs_gx_rejects_are_a_contract_error_naming_the_expectation() -> None:
    from eventpulse.quality.gx_runner import check_contract

    raw = (
        b'{"name": "orders", "meta": {"eventpulse": {"primary_key": ["id"],'
        b' "columns": {"id": {"type": "string", "nullable": false}}}},'
        b' "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},'
        b' {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},'
        b' {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "id"}}]}'
    )
    with pytest.raises(ContractError, match=r"expectations\[2\] \(expect_column_values_to_be_in_set\)"):
        check_contract(parse_contract("orders", raw))


def test_docs_list_every_supported_type_and_meta_key() -> None:
    from eventpulse.contracts.loader import EVENTPULSE_KEYS

    docs = (REPO_CONTRACTS.parent / "docs" / "CONTRACTS.md").read_text()
    missing = [t for t in SUPPORTED_EXPECTATIONS if f"`{t}`" not in docs]
    missing += [k for k in EVENTPULSE_KEYS if f"`{k}`" not in docs]
    assert not missing, f"document these in docs/CONTRACTS.md: {missing}"

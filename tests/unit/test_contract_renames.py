"""Contract `renames`: parsed with actionable errors, written by `with_rename`, applied by the reader."""

from __future__ import annotations

import copy
import json
from typing import Any

import pyarrow as pa
import pytest

from eventpulse.contracts.edit import with_rename
from eventpulse.contracts.loader import parse_contract
from eventpulse.errors import ContractError, ReadError
from eventpulse.parse.renamed import RenamedSource
from tests.unit.test_contracts_loader import raw, suite


def parse(doc: dict[str, Any]):
    return parse_contract("orders", raw(doc))


def test_renames_are_parsed_into_the_contract():
    contract = parse(suite(renames={"total": "amount", "old_total": "amount"}))
    assert contract.renames == {"total": "amount", "old_total": "amount"}
    assert parse(suite()).renames == {}


def test_a_rename_may_target_a_column_only_the_history_knows():
    # An evolved column is not declared; the processor checks it against the history.
    assert parse(suite(renames={"colour": "color"})).renames == {"colour": "color"}


@pytest.mark.parametrize(
    ("renames", "problem", "fix"),
    [
        (["total"], "is not an object", "<known column>"),
        ({"Total Amount": "amount"}, "not a column name as EventPulse reads it", "'total_amount'"),
        ({"total": "Amount"}, "not a column name as EventPulse reads it", "'amount'"),
        ({"total": 3}, "not a column name", "a column name"),
        ({"amount": "amount"}, "maps a column to itself", "remove the entry"),
        ({"id": "amount"}, "'id' is a declared column", "rename only a column"),
        ({"a": "b", "b": "amount"}, "'b' is itself renamed", "map straight to the final column"),
    ],
)
def test_bad_renames_name_the_entry_and_the_fix(renames, problem, fix):
    with pytest.raises(ContractError) as exc:
        parse(suite(renames=renames))
    assert "meta.eventpulse.renames" in exc.value.message
    assert problem in exc.value.message and fix in exc.value.hint


def test_with_rename_returns_a_new_body_that_parses():
    body = suite()
    before = copy.deepcopy(body)
    edited = with_rename(body, "total", "amount")
    assert body == before  # the given suite is not touched
    assert edited["meta"]["eventpulse"]["renames"] == {"total": "amount"}
    again = with_rename(edited, "sum", "amount")
    assert parse(again).renames == {"total": "amount", "sum": "amount"}
    assert json.loads(json.dumps(again))["expectations"] == body["expectations"]


def test_with_rename_replaces_an_earlier_mapping_of_the_same_file_column():
    edited = with_rename(with_rename(suite(), "total", "amount"), "total", "id_total")
    assert edited["meta"]["eventpulse"]["renames"] == {"total": "id_total"}


class _Source:
    format = "csv"
    encoding = None

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.original_columns = [c.upper() for c in columns]

    def batches(self):
        yield pa.record_batch({c: ["v"] for c in self.columns})


def test_the_reader_sees_renamed_columns_under_their_known_names():
    source = RenamedSource.wrap(_Source(["id", "total"]), {"total": "amount", "other": "x"})
    assert source.columns == ["id", "amount"] and source.original_columns == ["ID", "TOTAL"]
    (batch,) = source.batches()
    assert batch.schema.names == ["id", "amount"]
    untouched = _Source(["id", "amount"])
    assert RenamedSource.wrap(untouched, {"total": "amount"}) is untouched


def test_a_file_with_both_the_old_and_the_new_name_is_a_read_error():
    with pytest.raises(ReadError, match="both 'total' and 'amount'") as exc:
        RenamedSource.wrap(_Source(["id", "total", "amount"]), {"total": "amount"})
    assert "remove one of the two columns" in exc.value.hint

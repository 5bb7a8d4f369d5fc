"""Which sheet a new ingestion reads and its identity (pure): named, the contract's, or the first."""

from __future__ import annotations

import pytest

from eventpulse.errors import BadRequest
from eventpulse.landing.sheets import build_sheet_key, decide_sheet


def test_a_named_sheet_is_read_by_name_and_is_the_identity() -> None:
    choice = decide_sheet("book.xlsx", {"sheet": "South", "encoding": "utf-8"}, "North")
    assert choice.options == {"sheet": "South", "encoding": "utf-8"}
    assert choice.key == "South"


def test_without_a_sheet_the_contracts_sheet_is_read_and_is_the_identity() -> None:
    assert decide_sheet("book.xlsx", None, "South").options == {"sheet": "South"}
    assert decide_sheet("book.xlsx", {"sheet": ""}, "South").key == "South"
    by_index = decide_sheet("BOOK.XLSX", None, 2)
    assert (by_index.options, by_index.key) == ({"sheet": 2}, "[2]")


def test_without_any_sheet_the_first_is_pinned_so_a_replay_reads_it_whatever_the_contract_says_later() -> (
    None
):
    choice = decide_sheet("book.xlsx", None, None)
    assert (choice.options, choice.key) == ({"sheet": 0}, "")
    assert decide_sheet("book.xlsx", None, 0).key == ""  # index 0 is the first sheet too


def test_files_that_are_not_workbooks_have_no_sheet_even_when_the_contract_names_one() -> None:
    choice = decide_sheet("export.csv", {"encoding": "cp1252"}, "South")
    assert (choice.options, choice.key) == ({"encoding": "cp1252"}, "")


def test_a_sheet_for_a_file_that_is_not_a_workbook_is_a_bad_request_naming_it() -> None:
    with pytest.raises(BadRequest) as caught:
        decide_sheet("export.csv", {"sheet": "South"}, None)
    assert "'export.csv'" in caught.value.message and caught.value.details == {"parameter": "sheet"}


@pytest.mark.parametrize("sheet", ["[1]", "a:b", "x/y", "why?", "tab\there", " ", -1, True])
def test_a_sheet_excel_could_not_name_is_a_bad_request(sheet: object) -> None:
    with pytest.raises(BadRequest):
        decide_sheet("book.xlsx", {"sheet": sheet}, None)


def test_sheet_keys_never_collide_between_names_and_indexes() -> None:
    assert [build_sheet_key(s) for s in (0, 1, "1", "Data")] == ["", "[1]", "1", "Data"]

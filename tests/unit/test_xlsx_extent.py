"""The cell grid a worksheet's XML spans, measured chunk by chunk (parse/xlsx_extent.py, pure)."""

from __future__ import annotations

import re

import pytest

from eventpulse.parse.xlsx_extent import (
    CellExtent,
    _digits_above,
    _letters_above,
    column_letters,
    column_number,
)


def _extent(xml: bytes, chunk: int = 7) -> CellExtent:
    """Scan ``xml`` in small chunks, so tags are cut across chunk ends."""
    extent = CellExtent()
    for start in range(0, len(xml), chunk):
        extent.feed(xml[start : start + chunk])
    extent.finish()
    return extent


def _rows(n_rows: int, n_cols: int) -> bytes:
    return b"".join(
        b'<row r="%d">' % r
        + b"".join(
            b'<c r="%s%d"><v>1</v></c>' % (column_letters(c).encode(), r) for c in range(1, n_cols + 1)
        )
        + b"</row>"
        for r in range(1, n_rows + 1)
    )


@pytest.mark.parametrize("n", [0, 1, 9, 10, 99, 200_000, 1_048_576])
def test_digits_above_matches_exactly_the_larger_numbers(n: int) -> None:
    pattern = re.compile(_digits_above(n) + b"$")
    for candidate in {0, 1, n - 1, n, n + 1, n * 10, 10 ** len(str(n)), 999_999_999}:
        if candidate >= 0:
            assert bool(pattern.match(str(candidate).encode())) == (candidate > n), (n, candidate)


@pytest.mark.parametrize("n", [0, 1, 26, 27, 702, 703, 16_384])
def test_letters_above_matches_exactly_the_later_columns(n: int) -> None:
    pattern = re.compile(_letters_above(n) + b"$")
    for candidate in {1, max(1, n - 1), max(1, n), n + 1, 26, 27, 702, 703, 16_384}:
        assert bool(pattern.match(column_letters(candidate).encode())) == (candidate > n), (n, candidate)
    assert pattern.match(b"a")  # a lower-case reference is always read cell by cell


def test_column_names_round_trip() -> None:
    assert [column_number(column_letters(n).encode()) for n in (1, 26, 27, 702, 703, 16_384)] == [
        1,
        26,
        27,
        702,
        703,
        16_384,
    ]
    assert column_number(b"xfd") == 16_384


def test_a_dense_sheet_spans_its_rows_times_its_columns() -> None:
    extent = _extent(_rows(40, 12))
    assert (extent.rows, extent.columns, extent.grid, extent.cells) == (40, 12, 480, 480)


def test_one_far_cell_spans_the_grid_up_to_it() -> None:
    xml = _rows(3, 2) + b'<row r="1000000"><c r="ZZ1000000"><v>2</v></c></row>'
    assert (_extent(xml).rows, _extent(xml).columns) == (1_000_000, 702)


def test_a_cell_below_its_row_tag_is_found() -> None:
    xml = _rows(30, 3) + b'<row r="31"><c r="A31"><v>1</v></c><c r="B900000"><v>1</v></c></row>'
    assert _extent(xml, chunk=4096).rows == 900_000


def test_cells_without_references_count_by_their_place_in_the_row() -> None:
    xml = b"<row>" + b"<c><v>1</v></c>" * 50 + b"</row>" + b"<row><c><v>1</v></c></row>" * 9
    extent = _extent(xml, chunk=10_000)
    assert (extent.rows, extent.columns) == (10, 50)


@pytest.mark.parametrize(
    "cell",
    [b'<x:c r="ZZ1000000"><x:v>1</x:v></x:c>', b'<c s="1" r="ZZ1000000"><v>1</v></c>', b'<c r="zz1000000"/>'],
)
def test_unusual_spellings_of_a_far_cell_are_found(cell: bytes) -> None:
    xml = _rows(5, 3) + b'<row r="6">' + cell + b"</row>"
    assert _extent(xml).grid >= 702 * 1_000_000


def test_a_sheet_without_cells_spans_nothing() -> None:
    assert _extent(b'<worksheet><sheetData><row r="5"/></sheetData></worksheet>').grid == 0

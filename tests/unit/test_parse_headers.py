"""Header row detection for sheets whose first rows are titles or blank (parse/headers.py)."""

from eventpulse.parse.headers import HEADER_PROBE_ROWS, find_header_row

DATA = [["k1", "100", "Denver"], ["k2", "200", "Boulder"]]


def test_a_well_formed_sheet_keeps_its_first_row():
    assert find_header_row([["id", "price", "city"], *DATA]) == 0
    assert find_header_row([["id", "price", "city"], *DATA], ["id", "price"]) == 0


def test_a_title_and_a_blank_row_above_the_header_are_skipped():
    rows = [["Parcel export, March 2024", None, None], [None, None, None], ["id", "price", "city"], *DATA]
    assert find_header_row(rows) == 2
    assert find_header_row(rows, ["id", "city"]) == 2


def test_the_row_naming_known_columns_wins_over_an_earlier_text_row():
    rows = [["Prepared by", "Finance team", None], ["Parcel ID", "Sale Price", "City"], *DATA]
    assert find_header_row(rows) == 0  # no known columns: the first header-like row
    assert find_header_row(rows, ["parcel_id", "sale_price"]) == 1


def test_rows_of_numbers_or_repeated_values_are_not_headers():
    rows = [["1", "2", "3"], ["x", "x", "x"], ["id", "price", "city"], *DATA]
    assert find_header_row(rows) == 2


def test_no_header_like_row_falls_back_to_the_first_row():
    assert find_header_row([["1", "2"], ["3", "4"]]) == 0
    assert find_header_row([]) == 0
    assert find_header_row([["total"], ["5"]]) == 0  # one column: its first row


def test_a_header_below_the_probed_rows_is_not_searched_for():
    rows = [[None, None]] * HEADER_PROBE_ROWS + [["id", "price"], ["k1", "1"]]
    assert find_header_row(rows, ["id", "price"]) == 0

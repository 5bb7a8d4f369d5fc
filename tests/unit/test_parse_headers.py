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
    rows = [["Report"], ["1", "2", "3"], ["x", "x", "x"], ["id", "price", "city"], *DATA]
    assert find_header_row(rows) == 3
    assert find_header_row(rows, ["id"]) == 3


def test_a_wide_first_row_stays_the_header_unless_a_later_row_names_known_columns():
    # A first row repeating a name is still the header: its duplicate is the error to report.
    rows = [["name", "name"], ["alice", "bob"]]
    assert find_header_row(rows) == 0
    numbers = [["1", "2", "3"], ["id", "price", "city"], *DATA]
    assert find_header_row(numbers) == 0 and find_header_row(numbers, ["price"]) == 1


def test_no_header_like_row_falls_back_to_the_first_row():
    assert find_header_row([["1", "2"], ["3", "4"]]) == 0
    assert find_header_row([]) == 0
    assert find_header_row([["total"], ["5"]]) == 0  # one column: its first row


def test_a_header_below_the_probed_rows_is_not_searched_for():
    rows = [[None, None]] * HEADER_PROBE_ROWS + [["id", "price"], ["k1", "1"]]
    assert find_header_row(rows, ["id", "price"]) == 0


def test_a_csv_title_and_blank_line_above_the_header_are_skipped(tmp_path):
    from eventpulse.parse.readers import ReadOptions, open_source

    path = tmp_path / "report.csv"
    path.write_text('Parcel sales report\n\nid;price;note\nk1;100;"two\nlines"\nk2;200;x\n')
    source = open_source(path, "csv", ReadOptions(expected_columns=("id", "price")))
    assert (source.delimiter, source.header_row, source.columns) == (";", 2, ["id", "price", "note"])
    (batch,) = list(source.batches())
    assert batch.to_pylist() == [
        {"id": "k1", "price": "100", "note": "two\nlines"},
        {"id": "k2", "price": "200", "note": "x"},
    ]


def test_a_plain_csv_still_reads_its_first_line_as_the_header(tmp_path):
    from eventpulse.parse.readers import open_source

    path = tmp_path / "plain.csv"
    path.write_text("id,price\nk1,1\n")
    source = open_source(path, "csv")
    assert (source.header_row, source.columns) == (0, ["id", "price"])
    assert [b.num_rows for b in source.batches()] == [1]


def test_a_csv_title_holding_the_delimiter_gives_way_to_a_header_naming_known_columns(tmp_path):
    from eventpulse.parse.readers import ReadOptions, open_source

    path = tmp_path / "report.csv"
    path.write_text("Parcel sales, March 2024\nid,price\nk1,100\n")
    source = open_source(path, "csv", ReadOptions(expected_columns=("id", "price")))
    assert (source.header_row, source.columns) == (1, ["id", "price"])
    assert [b.to_pylist() for b in source.batches()] == [[{"id": "k1", "price": "100"}]]

"""The XLSX reader decodes a sheet once when its header is the first row, and reads it exactly as the
text header probe followed by a second decode does (parse/xlsx_reader.py).

Differential: every workbook is opened twice, once as the reader does and once with the
speculative decode turned off (the probe path, which was the only path before); the header row,
the column names and every batch must agree.
"""

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpulse.parse import xlsx_reader
from eventpulse.parse.readers import ReadOptions, open_source

xlsxwriter = pytest.importorskip("xlsxwriter")

Cell = str | float | bool | dt.datetime | None


def write_book(path: Path, rows: list[list[Cell]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write(r, c, value)
    book.close()
    return path


def read(path: Path, options: ReadOptions) -> tuple[int, list[str], list[str], list[pa.RecordBatch]]:
    source = open_source(path, "xlsx", options)
    assert isinstance(source, xlsx_reader.XlsxSource)
    return source.header_row, source.original_columns, source.columns, list(source.batches())


def both_paths(path: Path, options: ReadOptions, monkeypatch: pytest.MonkeyPatch) -> tuple:
    fast = read(path, options)
    with monkeypatch.context() as patched:
        patched.setattr(xlsx_reader, "_decode_with_first_row_header", lambda *_: (None, None))
        probed = read(path, options)
    return fast, probed


def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the typed decodes of a sheet (the header probe, with ``n_rows``, is not one)."""
    import fastexcel

    calls: list[int] = []
    original = fastexcel.ExcelReader.load_sheet

    def counting(self, idx_or_name, **kwargs):
        if kwargs.get("n_rows") is None:
            calls.append(kwargs.get("header_row", 0))
        return original(self, idx_or_name, **kwargs)

    monkeypatch.setattr(fastexcel.ExcelReader, "load_sheet", counting)
    return calls


DATA = [[1.0, "a", 2.5], [2.0, "b", None], [3.0, "c", 4.0]]


def test_a_first_row_header_is_decoded_once(tmp_path, monkeypatch):
    path = write_book(tmp_path / "plain.xlsx", [["id", "name", "price"], *DATA])
    calls = decodes(monkeypatch)
    source = open_source(path, "xlsx", ReadOptions(batch_rows=2))
    batches = list(source.batches())
    assert calls == [0]  # one decode, under header row 0, reused by batches()
    assert source.columns == ["id", "name", "price"]
    assert [b.num_rows for b in batches] == [2, 1]
    assert pa.Table.from_batches(batches).column("price").to_pylist() == [2.5, None, 4.0]
    list(source.batches())  # a second pass (a changed drift plan) does not decode again
    assert calls == [0]


def test_a_first_row_header_the_names_cannot_tell_is_still_decoded_once(tmp_path, monkeypatch):
    path = write_book(tmp_path / "blank.xlsx", [["id", None, "price"], *DATA])
    calls = decodes(monkeypatch)
    source = open_source(path, "xlsx", ReadOptions())
    list(source.batches())
    assert calls == [0]  # the text probe (n_rows) found row 0: the speculative decode serves it
    assert source.original_columns == ["id", "", "price"]


def test_a_header_below_title_rows_is_decoded_under_it(tmp_path, monkeypatch):
    path = write_book(tmp_path / "titled.xlsx", [["Report of May"], [None], ["id", "name", "price"], *DATA])
    calls = decodes(monkeypatch)
    source = open_source(path, "xlsx", ReadOptions())
    list(source.batches())
    assert calls == [0, 2]  # the speculation, then the sheet under the header found


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("title rows above the header", [["Report of May"], [None], ["id", "name", "price"], *DATA]),
        ("an empty header cell", [["id", None, "price"], *DATA]),
        ("a date header cell", [["id", dt.datetime(2024, 5, 1), "price"], *DATA]),
        ("a boolean header cell", [["id", True, "price"], *DATA]),
        ("a repeated name", [["id", "id", "price"], *DATA]),
        ("a name and its _1", [["id", "id_1", "price"], *DATA]),
    ],
)
def test_headers_the_names_cannot_tell_take_the_probe(tmp_path, monkeypatch, name, rows):
    path = write_book(tmp_path / "book.xlsx", rows)
    options = ReadOptions(batch_rows=2)
    try:
        fast = read(path, options)
    except Exception as exc:  # a repeated name is refused: both paths must refuse it alike
        with monkeypatch.context() as patched, pytest.raises(type(exc)) as probed:
            patched.setattr(xlsx_reader, "_decode_with_first_row_header", lambda *_: (None, None))
            read(path, options)
        assert str(probed.value) == str(exc)
        return
    fast_again, probed = both_paths(path, options, monkeypatch)
    assert fast == fast_again == probed, name


def test_a_known_column_below_the_first_row_moves_the_header(tmp_path, monkeypatch):
    rows = [["Parcels", "May"], ["parcel_id", "sale_price"], [1.0, 2.0]]
    path = write_book(tmp_path / "known.xlsx", rows)
    options = ReadOptions(expected_columns=("parcel_id", "sale_price"))
    fast, probed = both_paths(path, options, monkeypatch)
    assert fast == probed
    assert fast[0] == 1 and fast[2] == ["parcel_id", "sale_price"]


def test_an_empty_sheet_is_refused_as_before(tmp_path):
    path = write_book(tmp_path / "empty.xlsx", [])
    with pytest.raises(Exception, match="is empty"):
        open_source(path, "xlsx", ReadOptions())


TEXT = st.sampled_from(["id", "name", "price", "city", "x", "x_1", "Id", "1", "2.5", "", "ü", "n a"])
CELL = st.one_of(
    st.none(),
    TEXT,
    st.sampled_from([0.0, 1.0, 2.5, -3.0, 1e20]),
    st.booleans(),
    st.just(dt.datetime(2024, 5, 1, 12, 30)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(CELL, min_size=1, max_size=4), min_size=1, max_size=6),
    expected=st.lists(st.sampled_from(["id", "name", "price", "x"]), max_size=2),
)
def test_both_paths_read_any_small_sheet_alike(tmp_path, monkeypatch, rows, expected):
    path = write_book(tmp_path / "any.xlsx", rows)
    options = ReadOptions(batch_rows=3, expected_columns=tuple(expected))
    outcomes = []
    for speculate in (True, False):
        with monkeypatch.context() as patched:
            if not speculate:
                patched.setattr(xlsx_reader, "_decode_with_first_row_header", lambda *_: (None, None))
            try:
                outcomes.append(read(path, options))
            except Exception as exc:  # the same refusal, with the same message
                outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]

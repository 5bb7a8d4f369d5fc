import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventpulse.errors import ReadError
from eventpulse.parse.readers import ReadOptions, open_source


def rows(source):
    return pa.Table.from_batches(list(source.batches())).to_pylist()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_reads_every_column_as_text_with_empty_as_null(tmp_path):
    src = open_source(write(tmp_path, "a.csv", b"zip,n\n07316,1\n,2\n"), "csv")
    batch = next(src.batches())
    assert batch.schema.types == [pa.string(), pa.string()]
    assert rows(src) == [{"zip": "07316", "n": "1"}, {"zip": None, "n": "2"}]
    assert src.encoding == "utf-8"


def test_csv_bom_and_semicolon(tmp_path):
    src = open_source(write(tmp_path, "a.csv", b"\xef\xbb\xbfId;Name\n1;a,b\n"), "csv")
    assert src.original_columns == ["Id", "Name"] and src.columns == ["id", "name"]
    assert rows(src) == [{"id": "1", "name": "a,b"}]


def test_csv_tab_and_pipe(tmp_path):
    assert rows(open_source(write(tmp_path, "a.tsv", b"a\tb\n1\t2\n"), "csv")) == [{"a": "1", "b": "2"}]
    assert rows(open_source(write(tmp_path, "p.csv", b"a|b\n1|2\n"), "csv")) == [{"a": "1", "b": "2"}]


def test_csv_latin1_is_detected_and_transcoded(tmp_path):
    text = "name,city\n" + "".join(f"Müller {i},Zürich Straße é\n" for i in range(50))
    src = open_source(write(tmp_path, "l.csv", text.encode("latin-1")), "csv")
    assert src.encoding is not None and src.encoding != "utf-8"
    assert rows(src)[0] == {"name": "Müller 0", "city": "Zürich Straße é"}


def test_csv_utf16_with_bom(tmp_path):
    src = open_source(write(tmp_path, "u.csv", "a,b\nü,2\n".encode("utf-16")), "csv")
    assert src.encoding == "utf-16" and rows(src) == [{"a": "ü", "b": "2"}]


def test_undetectable_encoding_says_resave_as_utf8(tmp_path):
    path = write(tmp_path, "x.csv", b"a,b\n" + bytes(range(128, 256)) * 4)
    with pytest.raises(ReadError) as exc:
        list(open_source(path, "csv").batches())
    assert "UTF-8" in exc.value.hint or "UTF-8" in exc.value.message


def test_empty_file_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="empty"):
        open_source(write(tmp_path, "e.csv", b""), "csv")


def test_header_only_file_is_a_valid_zero_row_file(tmp_path):
    src = open_source(write(tmp_path, "h.csv", b"a,b\n"), "csv")
    batches = list(src.batches())
    assert [b.num_rows for b in batches] == [0] and batches[0].schema.names == ["a", "b"]


def test_ragged_row_reports_line_number(tmp_path):
    path = write(tmp_path, "r.csv", b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(ReadError, match="line 3"):
        list(open_source(path, "csv").batches())


def test_colliding_headers_are_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="position 2"):
        open_source(write(tmp_path, "c.csv", b"Zip,zip\n1,2\n"), "csv")


def test_batches_are_bounded_and_rereadable(tmp_path):
    path = write(tmp_path, "b.csv", b"a\n" + b"".join(b"%d\n" % i for i in range(25)))
    src = open_source(path, "csv", ReadOptions(batch_rows=10))
    assert [b.num_rows for b in src.batches()] == [10, 10, 5]
    assert [b.num_rows for b in src.batches()] == [10, 10, 5]


def test_ndjson_and_json_array_keep_nested_values_as_json_text(tmp_path):
    records = [{"id": 1, "tags": ["a"], "meta": {"k": 1}, "v": 1}, {"id": 2, "v": 2.5, "extra": "x"}]
    nd = write(tmp_path, "a.ndjson", "\n".join(json.dumps(r) for r in records).encode())
    arr = write(tmp_path, "a.json", json.dumps(records, indent=2).encode())
    for path, fmt in ((nd, "ndjson"), (arr, "json")):
        src = open_source(path, fmt, ReadOptions(batch_rows=1))
        assert src.format == fmt and src.columns == ["id", "tags", "meta", "v", "extra"]
        assert rows(src) == [
            {"id": 1, "tags": '["a"]', "meta": '{"k": 1}', "v": 1.0, "extra": None},
            {"id": 2, "tags": None, "meta": None, "v": 2.5, "extra": "x"},
        ]


def test_json_array_streams_across_small_chunks(tmp_path):
    from eventpulse.parse.jsonstream import iter_json_array

    records = [{"n": i, "s": "x" * (i % 7)} for i in range(200)]
    path = write(tmp_path, "a.json", json.dumps(records).encode())
    assert list(iter_json_array(path, "utf-8", chunk_chars=5)) == records


def test_json_that_is_not_an_array_of_objects(tmp_path):
    with pytest.raises(ReadError, match="not a JSON object"):
        open_source(write(tmp_path, "a.json", b"[1, 2]"), "json")
    with pytest.raises(ReadError, match="not valid JSON"):
        open_source(write(tmp_path, "b.json", b'[{"a": 1},'), "json")


def test_parquet_batches_with_normalized_names(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"Sale Price": [1.5, None], "When": [dt.datetime(2024, 1, 1), None]}), path)
    src = open_source(path, "parquet", ReadOptions(batch_rows=1))
    assert src.columns == ["sale_price", "when"] and src.encoding is None
    assert [b.num_rows for b in src.batches()] == [1, 1]


def make_xlsx(path: Path) -> Path:
    xlsxwriter = pytest.importorskip("xlsxwriter")
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Data")
    for col, header in enumerate(["Parcel ID", "Zip", "Price", "Sold"]):
        ws.write(0, col, header)
    fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for r in range(1, 4):
        ws.write_string(r, 0, f"P{r}")
        ws.write_string(r, 1, "07316")
        ws.write_number(r, 2, 100.0 * r)
        ws.write_datetime(r, 3, dt.datetime(2024, 1, r), fmt)
    wb.add_worksheet("Other")
    wb.close()
    return path


def test_xlsx_keeps_native_cell_types(tmp_path):
    src = open_source(make_xlsx(tmp_path / "a.xlsx"), "xlsx", ReadOptions(batch_rows=2))
    assert src.columns == ["parcel_id", "zip", "price", "sold"] and src.encoding is None
    batches = list(src.batches())
    assert [b.num_rows for b in batches] == [2, 1]
    assert batches[0].schema.field("price").type == pa.float64()
    assert pa.types.is_timestamp(batches[0].schema.field("sold").type)
    assert batches[0].column("zip")[0].as_py() == "07316"


def test_xlsx_unknown_sheet_lists_available_sheets(tmp_path):
    with pytest.raises(ReadError) as exc:
        open_source(make_xlsx(tmp_path / "a.xlsx"), "xlsx", ReadOptions(sheet="Nope"))
    assert exc.value.details["sheets"] == ["Data", "Other"]


def test_parquet_nested_columns_are_read_as_json_text(tmp_path):
    # Found by the hostile corpus: a struct column ended FAILED_EXCEPTION (Arrow cannot cast it to text).
    path = tmp_path / "nested.parquet"
    table = pa.table(
        {
            "id": ["a", "b"],
            "deep": [{"x": {"y": [1, 2]}}, None],
            "tags": [["p", "q"], []],
            "attrs": pa.array([[("k", 1)], [("z", 2)]], pa.map_(pa.string(), pa.int64())),
        }
    )
    pq.write_table(table, path)
    (batch,) = open_source(path, "parquet", ReadOptions()).batches()
    assert batch.schema.field("deep").type == pa.string()
    assert batch.column("id").to_pylist() == ["a", "b"]
    assert [json.loads(v) if v else v for v in batch.column("deep").to_pylist()] == [
        {"x": {"y": [1, 2]}},
        None,
    ]
    assert [json.loads(v) for v in batch.column("tags").to_pylist()] == [["p", "q"], []]
    assert [json.loads(v) for v in batch.column("attrs").to_pylist()] == [[["k", 1]], [["z", 2]]]

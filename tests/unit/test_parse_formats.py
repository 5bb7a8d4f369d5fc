import pytest

from eventpulse.errors import UnsupportedMediaType
from eventpulse.parse.formats import detect_format


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.TSV", "csv"),
        ("b.xlsx", "xlsx"),
        ("c.json", "json"),
        ("d.ndjson", "ndjson"),
        ("e.jsonl", "ndjson"),
        ("f.parquet", "parquet"),
    ],
)
def test_detect_format_by_extension(name, fmt):
    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["report.xls", "notes.txt", "noextension"])
def test_unsupported_extension_lists_allowed_ones(name):
    with pytest.raises(UnsupportedMediaType) as exc:
        detect_format(name)
    assert ".csv" in exc.value.hint and ".parquet" in exc.value.hint

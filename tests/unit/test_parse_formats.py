import pytest

from eventpulse.errors import UnsupportedMediaType
from eventpulse.parse.formats import canonical_text_encoding, detect_format


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


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("latin-1", "iso8859-1"),
        ("cp1250", "cp1250"),
        ("utf_16", "utf-16"),
    ],
)
def test_text_encodings_get_their_canonical_name(name, canonical):
    assert canonical_text_encoding(name) == canonical


@pytest.mark.parametrize(
    "name",
    ["zlib", "base64", "rot13", "hex", "bz2", "uu", "quopri", "idna", "unicode_escape", "\x00", "utf-8\x00"]
    + ["klingon-8", "", "u" * 41],
)
def test_codecs_that_do_not_decode_a_file_into_text_are_refused(name):
    assert canonical_text_encoding(name) is None

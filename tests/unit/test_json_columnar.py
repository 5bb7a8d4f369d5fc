"""The columnar NDJSON path (pyarrow.json) against the record-by-record reader: same batches or same error."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpulse.errors import ReadError
from eventpulse.parse.json_reader import JsonSource
from eventpulse.parse.limits import ReadLimits
from eventpulse.parse.source import ReadOptions

KEYS = ["id", "name", "Amount (USD)", "é", "ключ", "", "a\u00e9", "n"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.integers(),  # beyond 64 bits, and past 2**53
    st.sampled_from([0, -1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 10**15]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -0.0, 0.0, 5e-324, 1.5, -2.0, float("nan"), float("inf")]),
    st.text(max_size=12),
    st.sampled_from(["2024-01-01", "2024-01-01T10:00:00", "2024-01-01 10:00:00Z", "NaN", "-0", "}\\n{"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=4,
)
plain_text = st.text()
plain_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9), st.text()
)
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)
mixed_records = st.dictionaries(st.sampled_from(KEYS), plain_values, min_size=1, max_size=5)
# -0.0, a negative subnormal and |x| >= 2**53 are false alarms (json_arrow._risky_keys).
plain_floats = st.floats(-1e15, 1e15).filter(lambda x: math.copysign(1, x) > 0 if x == 0 else abs(x) > 1e-300)
# One kind per key (int and float may mix), any key missing or null: what a typical export holds.
plain_records = st.fixed_dictionaries(
    {"id": st.integers(-(2**63), 2**63 - 1)},  # an int column may hold any int64
    optional={
        "name": st.none() | plain_text,
        "Amount (USD)": st.none() | st.integers(-(10**9), 10**9) | plain_floats,
        "é": st.none() | st.booleans(),
        "ключ": st.none() | st.sampled_from(["2024-01-01", "2024-01-01T10:00:00", "x"]),
        "n": st.none(),
    },
)
RAW_LINES = [
    "",
    "   ",
    "[1, 2]",
    "7",
    '"text"',
    '{"id": ',
    '{"id": 1} {"id": 2}',
    '{"id":\n1} {"id": 2}',  # two lines, two objects, neither line one object
    '{"id": -0}',
    '{"id": 12345678901234567890}',
    '{"id": -NaN}',
    '{"id": 1, "id": 2}',
    '{"id": "\\ud800"}',
    '{"id": 1}\r{"name": "x"}',
    '\t{"id": 1}',
    '{"id": 1} ',
    '{"id": "a\tb"}',
    '{"id": 1e400}',
    "\ufeff{}",
    "{}",
]


@st.composite
def ndjson_files(draw: Any) -> bytes:
    """An NDJSON file: dumped records, sometimes a raw line, a separator style, a line end."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(RAW_LINES)))
            continue
        record = draw(st.one_of(records, mixed_records, plain_records))
        compact = draw(st.booleans())
        lines.append(
            json.dumps(
                record,
                ensure_ascii=draw(st.booleans()),
                separators=(",", ":") if compact else None,
            )
        )
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + draw(st.sampled_from(["", end]))
    bom = "\ufeff" if draw(st.integers(0, 9)) == 0 else ""
    data = (bom + text).encode("utf-8")
    if data and draw(st.integers(0, 9)) == 0:  # a byte that is not UTF-8, or a UTF-8-encoded surrogate
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3"])) + data[at:]
    return data


def read_all(path: Path, options: ReadOptions, *, columnar: bool) -> tuple[Any, ...]:
    """What a reader gives: keys, names and each batch's schema and values, or its error."""
    try:
        source = JsonSource.open(path, options, ndjson=True, columnar=columnar)
        batches = [(b.schema, repr(b.to_pylist())) for b in source.batches()]
    except ReadError as exc:
        return ("read error", exc.message, exc.hint, exc.details)
    except Exception as exc:  # the record reader's own failures must be reproduced too
        return ("other", type(exc).__name__, str(exc))
    return ("ok", source.original_columns, source.columns, source.types, batches)


def compare(data: bytes, batch_rows: int, limit: int, folder: Path | None = None) -> JsonSource | None:
    """Assert both readers agree on ``data``; the source the default path opens (None: a ReadError)."""
    options = ReadOptions(batch_rows=batch_rows, limits=ReadLimits(json_max_record_bytes=limit))
    with tempfile.TemporaryDirectory() as tmp:
        path = (folder or Path(tmp)) / "f.ndjson"
        path.write_bytes(data)
        assert read_all(path, options, columnar=True) == read_all(path, options, columnar=False)
        try:
            return JsonSource.open(path, options, ndjson=True)
        except ReadError:
            return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=ndjson_files(),
    batch_rows=st.sampled_from([1, 2, 3, 100_000]),
    limit=st.sampled_from([16 * 1024**2, 64, 300]),
)
def test_columnar_ndjson_reads_exactly_like_the_record_reader(
    data: bytes, batch_rows: int, limit: int
) -> None:
    compare(data, batch_rows, limit)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(plain_records, min_size=1, max_size=30), batch_rows=st.sampled_from([1, 7, 100_000]))
def test_plain_ndjson_takes_the_columnar_path(lines: list[dict[str, Any]], batch_rows: int) -> None:
    data = "".join(json.dumps(r) + "\n" for r in lines).encode()
    source = compare(data, batch_rows, 16 * 1024**2)
    assert source is not None and source.columnar, "a file of flat records must not fall back"


def test_blocks_split_a_large_file_at_line_ends_and_batches_keep_their_size(tmp_path, monkeypatch) -> None:
    from eventpulse.parse import json_arrow

    monkeypatch.setattr(json_arrow, "BLOCK_BYTES", 256)
    rows = [{"id": i, "v": i / 3, "s": f"s{i}", "t": i % 2 == 0} for i in range(2_000)]
    rows[1500]["extra"] = "late key"
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    source = compare(data, 300, 16 * 1024**2, tmp_path)
    assert source is not None and source.columnar
    assert source.original_columns == ["id", "v", "s", "t", "extra"]
    assert [b.num_rows for b in source.batches()] == [300] * 6 + [200]
    # The processor reads a source again after a drift decision; evidence reads a first batch.
    first, second = source.batches(), source.batches()
    pairs = list(zip(first, second, strict=True))
    assert all(a.equals(b) for a, b in pairs) and sum(a.num_rows for a, _ in pairs) == 2_000


@pytest.mark.parametrize(
    "line",
    [
        '{"id": {"nested": 1}}',  # nested values are json.dumps text
        '{"id": [1, 2]}',
        '{"id": "text"}',  # a type change after an int
        '{"id": 12345678901234567}\n{"id": 1.5}',  # an integer past 2**53 in a float column
        '{"id": 123456789012345678901}',  # past 2**63: JSON text for Python, a double for Arrow
        '{"id": 2.5}\n{"id": -0}',  # in a float column: Python's 0.0 (from int 0), Arrow's -0.0
        '{"id": NaN}',
        '{"id": 1} {"id": 2}',  # two objects on a line: the record reader refuses it
        '{"id":\n1} {"id": 2}',  # as many objects as lines, but not one per line
        '{"id": 2}\r{"id": 3}',  # a lone CR ends a line for Python, is a blank for Arrow
        "  \n",  # a line of spaces is blank for Python
        '{"id": 1, "id": 2}',  # Python keeps the last value
    ],
)
def test_features_the_columnar_path_cannot_reproduce_fall_back(tmp_path, line: str) -> None:
    path = tmp_path / "f.ndjson"
    path.write_text('{"id": 1}\n' + line + "\n")
    expected = read_all(path, ReadOptions(), columnar=False)
    assert read_all(path, ReadOptions(), columnar=True) == expected
    if expected[0] == "ok":
        assert not JsonSource.open(path, ReadOptions(), ndjson=True).columnar


def test_a_non_utf8_file_is_read_record_by_record(tmp_path) -> None:
    path = tmp_path / "f.ndjson"
    path.write_bytes('{"name": "café"}\n'.encode("cp1252"))
    source = JsonSource.open(path, ReadOptions(), ndjson=True)
    assert not source.columnar and source.encoding == "cp1252"
    assert next(iter(source.batches())).to_pylist() == [{"name": "café"}]


def test_bad_utf8_past_the_encoding_sample_fails_like_the_record_reader(tmp_path) -> None:
    path = tmp_path / "f.ndjson"
    good = b"".join(b'{"id": %d, "name": "caf\xc3\xa9"}\n' % i for i in range(40_000))
    assert len(good) > 1 << 20  # detect_encoding samples the first MiB: it sees UTF-8
    path.write_bytes(good + b'{"id": 1, "name": "\xff"}\n')
    expected = read_all(path, ReadOptions(), columnar=False)
    assert expected[0] == "read error" and "is not valid JSON" in expected[1]
    assert read_all(path, ReadOptions(), columnar=True) == expected


@pytest.mark.parametrize("opening", [b'{"a":', b"["])
def test_deep_nesting_never_reaches_pyarrow(tmp_path, opening: bytes) -> None:
    # pyarrow.json recurses once per level and crashes the process (SIGSEGV) at about 20,000.
    closing = b"}" if opening.startswith(b"{") else b"]"
    path = tmp_path / "deep.ndjson"
    path.write_bytes(b'{"a":' + opening * 50_000 + b"1" + closing * 50_000 + b"}\n")
    result = read_all(path, ReadOptions(), columnar=True)
    assert result[0] == "read error" and "nested too deeply" in result[1]

"""The row content hash (curate/row_hash.py): equal rows hash alike, any difference shows."""

import datetime as dt
import uuid

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpulse.curate.row_hash import KnownHashes, Unhashable, as_uuid_text, row_hashes

VALUES = {
    "s": st.one_of(st.none(), st.text(max_size=20)),
    "f": st.one_of(st.none(), st.floats(allow_nan=False)),
    "i": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "b": st.one_of(st.none(), st.booleans()),
    "d": st.one_of(st.none(), st.dates()),
    "t": st.one_of(st.none(), st.datetimes(timezones=st.just(dt.UTC))),
}
TYPES = {
    "s": pa.string(),
    "f": pa.float64(),
    "i": pa.int64(),
    "b": pa.bool_(),
    "d": pa.date32(),
    "t": pa.timestamp("us", tz="UTC"),
}
ROW = st.fixed_dictionaries(VALUES)


def batch_of(rows: list[dict]) -> pa.RecordBatch:
    return pa.record_batch([pa.array([r[n] for r in rows], TYPES[n]) for n in TYPES], names=list(TYPES))


def pairs(batch: pa.RecordBatch, names=tuple(TYPES)) -> list[tuple[int, int]]:
    h1, h2 = row_hashes(batch, list(names))
    return list(zip(h1.tolist(), h2.tolist(), strict=True))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=30), data=st.data())
def test_rows_hash_alike_exactly_when_their_values_are_alike(rows, data):
    hashes = pairs(batch_of(rows))
    for i, j in data.draw(st.lists(st.tuples(st.integers(0, len(rows) - 1), st.integers(0, len(rows) - 1)))):
        same = all(_same(rows[i][n], rows[j][n]) for n in TYPES)
        assert (hashes[i] == hashes[j]) == same, (rows[i], rows[j])


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b  # -0.0 and 0.0 are one value, as in Postgres
    return type(a) is type(b) and a == b


@settings(max_examples=100, deadline=None)
@given(row=ROW, column=st.sampled_from(list(TYPES)), data=st.data())
def test_changing_any_one_value_changes_the_hash(row, column, data):
    other = dict(row)
    other[column] = data.draw(VALUES[column].filter(lambda v: not _same(v, row[column])))
    assert pairs(batch_of([row])) != pairs(batch_of([other]))


def test_null_empty_text_and_zero_are_three_values():
    rows = [{**dict.fromkeys(TYPES), "s": v} for v in (None, "", "0")]
    assert len(set(pairs(batch_of(rows)))) == 3


def test_the_column_order_does_not_matter_but_the_column_set_and_types_do():
    row = {"s": "a", "f": 1.0, "i": 1, "b": True, "d": dt.date(2026, 1, 1), "t": None}
    batch = batch_of([row])
    reordered = batch.select(list(reversed(TYPES)))
    assert pairs(batch) == pairs(reordered)
    assert pairs(batch) != pairs(batch, names=("s", "f", "i", "b", "d"))  # t left out, though null
    retyped = batch.set_column(2, "i", pa.array([1.0]))  # the integer column as a number
    assert pairs(batch) != pairs(retyped)


def test_a_null_typed_column_hashes_as_missing_values_and_an_unknown_type_is_refused():
    nulls = pa.record_batch([pa.array([1, 2]), pa.nulls(2)], names=["k", "n"])
    assert len(set(pairs(nulls, names=("k", "n")))) == 2
    listed = pa.record_batch([pa.array([[1], [2]])], names=["l"])
    with pytest.raises(Unhashable):
        row_hashes(listed, ["l"])


def test_the_uuid_text_reads_back_as_the_same_lanes():
    h1 = np.array([0, 1, 2**64 - 1, 0x0123456789ABCDEF], dtype=np.uint64)
    h2 = np.array([2**63, 7, 0, 0xFEDCBA9876543210], dtype=np.uint64)
    text = as_uuid_text(h1, h2).to_pylist()
    assert text[3] == "0123456789abcdeffedcba9876543210"
    raw = b"".join(uuid.UUID(t).bytes for t in text)  # what Postgres stores and sends back
    known = KnownHashes.from_uuid_bytes(raw)
    assert known.contains(h1, h2).all()


def test_known_hashes_need_both_lanes_to_match():
    known = KnownHashes(np.array([5, 5, 9], dtype=np.uint64), np.array([1, 2, 3], dtype=np.uint64))
    probe1 = np.array([5, 9, 9, 4, 10], dtype=np.uint64)
    probe2 = np.array([1, 3, 4, 1, 3], dtype=np.uint64)
    assert known.contains(probe1, probe2).tolist() == [True, True, False, False, False]
    assert not KnownHashes(np.empty(0, np.uint64), np.empty(0, np.uint64)).contains(probe1, probe2).any()

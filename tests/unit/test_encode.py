"""The batch encoding of curated loads: the NUL check over sliced buffers, UTC timestamps as text."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from eventpulse.curate.encode import csv_chunks, prepare_batch
from eventpulse.errors import BadData
from eventpulse.schema.model import Column, TableSchema

SCHEMA = TableSchema.of([Column("name", "string"), Column("at", "datetime")])


def _batch(names: list[str | None], at: list[datetime | None] | None = None) -> pa.RecordBatch:
    stamps = pa.array(at or [None] * len(names), pa.timestamp("us", tz="UTC"))
    rows = pa.array(range(1, len(names) + 1), pa.int64())
    return pa.record_batch([pa.array(names, pa.string()), stamps, rows], names=["name", "at", "_source_row"])


@pytest.mark.parametrize("large", [False, True])
def test_a_nul_in_any_value_is_refused_and_one_outside_a_slice_is_not(large: bool) -> None:
    batch = _batch(["ok", None, "", "a\x00b", "fine"])
    if large:
        batch = batch.set_column(0, "name", batch.column(0).cast(pa.large_string()))
    with pytest.raises(BadData, match="NUL"):
        prepare_batch(batch, SCHEMA)
    # The slices share the buffer holding the NUL, but their own values do not include it.
    prepare_batch(batch.slice(0, 3), SCHEMA)
    prepare_batch(batch.slice(4, 1), SCHEMA)
    with pytest.raises(BadData, match="NUL"):
        prepare_batch(batch.slice(3, 1), SCHEMA)
    prepare_batch(_batch([None, None]), SCHEMA)


def test_utc_timestamps_are_written_as_the_csv_writer_writes_them() -> None:
    at = [datetime(1, 1, 1, tzinfo=UTC), None, datetime(2026, 12, 3, 14, 5, 6, 7, tzinfo=UTC)]
    at.append(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    batch = prepare_batch(_batch(["a", "b", "c", "d"], at), SCHEMA)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    written = b"".join(csv_chunks(batch)).replace(b'"', b"")  # the text form is quoted; NULL stays bare
    assert written == sink.getvalue().to_pybytes()
    assert b"2026-12-03 14:05:06.000007Z" in written and b",,2\n" in written

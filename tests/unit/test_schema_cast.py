import datetime as dt

import pyarrow as pa

from eventpulse.schema.cast import ARROW_TYPES, cast_batch
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.schema.model import Column, TableSchema


def test_zip_code_infers_string_and_keeps_its_leading_zero():
    batch = pa.record_batch({"zip": ["07316", "81073"]})
    inferrer = SchemaInferrer(text_typed=True)
    inferrer.feed(batch)
    result = cast_batch(batch, inferrer.result())
    assert result.batch.column("zip").to_pylist() == ["07316", "81073"] and not result.failures


def test_text_casts_and_failures_are_reported():
    batch = pa.record_batch(
        {
            "n": ["12", "12.0", "x", None],
            "f": ["1.5e3", "007", "abc", "2"],
            "b": ["TRUE", "false", "1", None],
            "d": ["2024-03-12", "2024-02-30", None, "2024-01-01"],
            "t": ["2024-03-12T10:00:00+02:00", "2024-03-12 10:00:00", "2024-03-12", "noon"],
        }
    )
    target = TableSchema.of(
        [
            Column("n", "integer"),
            Column("f", "number"),
            Column("b", "boolean"),
            Column("d", "date"),
            Column("t", "datetime"),
            Column("gone", "string"),
        ]
    )
    result = cast_batch(batch, target)
    out = result.batch
    assert out.schema.names == target.names
    assert [f.type for f in out.schema] == [ARROW_TYPES[c.type] for c in target]
    assert out.column("n").to_pylist() == [12, 12, None, None]
    assert out.column("f").to_pylist() == [1500.0, 7.0, None, 2.0]
    assert out.column("b").to_pylist() == [True, False, None, None]
    assert out.column("d").to_pylist() == [dt.date(2024, 3, 12), None, None, dt.date(2024, 1, 1)]
    assert out.column("t").to_pylist() == [
        dt.datetime(2024, 3, 12, 8),
        dt.datetime(2024, 3, 12, 10),
        dt.datetime(2024, 3, 12),
        None,
    ]
    assert out.column("gone").null_count == 4
    assert {k: v.to_pylist() for k, v in result.failures.items()} == {
        "n": [2],
        "f": [2],
        "b": [2],
        "d": [1],
        "t": [3],
    }
    assert result.samples == {"n": ["x"], "f": ["abc"], "b": ["1"], "d": ["2024-02-30"], "t": ["noon"]}


def test_native_casts():
    batch = pa.record_batch(
        {
            "whole": pa.array([1.0, 2.5, None]),
            "aware": pa.array([dt.datetime(2024, 1, 1, 12)] * 3, pa.timestamp("ms", tz="Europe/Paris")),
            "midnight": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 5), None]),
            "price": pa.array([1.5, 2.0, None]),
        }
    )
    target = TableSchema.of(
        [
            Column("whole", "integer"),
            Column("aware", "datetime"),
            Column("midnight", "date"),
            Column("price", "string"),
        ]
    )
    result = cast_batch(batch, target)
    assert result.batch.column("whole").to_pylist() == [1, None, None]
    assert result.batch.column("aware")[0].as_py() == dt.datetime(2024, 1, 1, 12)  # stored UTC instant
    assert result.batch.column("midnight").to_pylist() == [dt.date(2024, 1, 1), None, None]
    assert result.batch.column("price").to_pylist() == ["1.5", "2", None]
    assert result.failures["whole"].to_pylist() == [1] and result.failures["midnight"].to_pylist() == [1]


def test_midnight_datetime_text_casts_to_a_date_and_other_times_fail():
    batch = pa.record_batch(
        {
            "d": [
                "2020-10-28 00:00:00",
                "2020-10-29T00:00:00Z",
                "2020-10-30",
                "2020-10-31 10:30:00",
                "2020-11-01T00:00:00-05:00",
                None,
            ]
        }
    )
    result = cast_batch(batch, TableSchema.of([Column("d", "date")]))
    assert result.batch.column("d").to_pylist() == [
        dt.date(2020, 10, 28),
        dt.date(2020, 10, 29),
        dt.date(2020, 10, 30),
        None,
        None,
        None,
    ]
    assert result.failures["d"].to_pylist() == [3, 4]
    assert result.samples["d"] == ["2020-10-31 10:30:00", "2020-11-01T00:00:00-05:00"]


def test_every_type_inference_says_text_fits_casts_without_failures():
    columns = {
        "i": ["1999.0", "-3", None],
        "n": ["1.5", "2", None],
        "b": ["true", "FALSE", None],
        "d": ["2020-10-28 00:00:00", "2020-10-29", None],
        "t": ["2020-10-28 10:00:00", "2020-10-29", None],
    }
    batch = pa.record_batch(columns)
    inferrer = SchemaInferrer(text_typed=False)
    inferrer.feed(batch)
    fits = {c.name: c.fits for c in inferrer.result()}
    target = {"i": "integer", "n": "number", "b": "boolean", "d": "date", "t": "datetime"}
    assert all(target[name] in fits[name] for name in columns)
    result = cast_batch(batch, TableSchema.of(Column(n, t) for n, t in target.items()))  # type: ignore[arg-type]
    assert result.failures == {}
    assert result.batch.column("i").to_pylist() == [1999, -3, None]
    assert result.batch.column("d").to_pylist() == [dt.date(2020, 10, 28), dt.date(2020, 10, 29), None]

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from eventpulse.parse.readers import open_source
from eventpulse.schema.inference import SchemaInferrer

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def infer(columns, *, text_typed=True, whole=False, batch_rows=None):
    inferrer = SchemaInferrer(text_typed=text_typed, whole_floats_are_integers=whole)
    batch = pa.record_batch(columns)
    step = batch_rows or max(batch.num_rows, 1)
    for start in range(0, max(batch.num_rows, 1), step):
        inferrer.feed(batch.slice(start, step))
    return {c.name: (c.type, c.nullable) for c in inferrer.result()}


def test_text_rules():
    got = infer(
        {
            "zip": ["07316", "81073", None],
            "code": ["12", "0012", "5"],
            "i": ["1", None, "-3"],
            "n": ["1.5e3", "2", "-0.5"],
            "b": ["TRUE", "false", None],
            "zero_one": ["0", "1", "0"],
            "d": ["2024-03-12", "2024-02-29", None],
            "t": ["2024-03-12 10:00:00", "2024-03-12T10:00:00Z", "2024-03-12T10:00:00+02:00"],
            "empty": pa.array([None, None, None], pa.string()),
            "mixed": ["1", "x", "2024-01-01"],
            "bad_date": ["2024-02-30", "2024-01-01", "2024-01-02"],
            "long_id": ["12345678901234567890", "1", "2"],
        }
    )
    assert got == {
        "zip": ("string", True),
        "code": ("string", False),
        "i": ("integer", True),
        "n": ("number", False),
        "b": ("boolean", True),
        "zero_one": ("integer", False),
        "d": ("date", True),
        "t": ("datetime", False),
        "empty": ("null", True),
        "mixed": ("string", False),
        "bad_date": ("string", False),
        "long_id": ("string", False),
    }


def test_types_join_across_batches():
    got = infer(
        {
            "a": ["1", "2", "2.5", None],
            "d": ["2024-01-01", "x", "2024-01-01", "2024-01-01"],
            "z": ["1", "2", "3", "007"],
        },
        batch_rows=1,
    )
    assert got == {"a": ("number", True), "d": ("string", False), "z": ("string", False)}


def test_native_types():
    got = infer(
        {
            "i": pa.array([1, None], pa.int64()),
            "f": pa.array([1.5, 2.0]),
            "whole": pa.array([1.0, None]),
            "ts": pa.array([dt.datetime(2024, 1, 1), None]),
            "d": pa.array([dt.date(2024, 1, 1), None]),
            "b": pa.array([True, False]),
            "s": pa.array(["12", "13"]),
        },
        text_typed=False,
        whole=True,
    )
    assert got == {
        "i": ("integer", True),
        "f": ("number", False),
        "whole": ("integer", True),
        "ts": ("datetime", True),
        "d": ("date", True),
        "b": ("boolean", False),
        "s": ("string", False),
    }
    assert infer({"whole": pa.array([1.0, 2.0])}, text_typed=False) == {"whole": ("number", False)}


def test_zero_rows_gives_nullable_null_columns():
    inferrer = SchemaInferrer(text_typed=True)
    inferrer.feed(pa.record_batch({"a": pa.array([], pa.string())}))
    assert [(c.type, c.nullable) for c in inferrer.result()] == [("null", True)]


def infer_sample(name, fmt):
    if not SAMPLES.is_dir():
        pytest.skip(f"sample folder {SAMPLES} is absent (it sits beside the checkout, not in it)")
    inferrer = SchemaInferrer.for_format(fmt)
    for batch in open_source(SAMPLES / name, fmt).batches():
        inferrer.feed(batch)
    return {c.name: c for c in inferrer.result()}


@pytest.mark.samples
def test_sample_parcels_baseline_types():
    cols = infer_sample("parcels_baseline.xlsx", "xlsx")
    assert cols["zip"].type == "string" and cols["sale_price"].type == "number"
    assert cols["sale_date"].type == "date"  # Excel date cells read as midnight datetimes
    assert cols["updated_at"].type == "datetime"  # has times of day
    assert (cols["year_built"].type, cols["year_built"].nullable) == ("integer", True)
    assert cols["bedrooms"].type == "integer" and cols["lot_sqft"].type == "integer"


@pytest.mark.samples
def test_sample_parcels_type_change_shows_sale_price_as_text_that_fits_number():
    sale_price = infer_sample("parcels_drift_type_change.xlsx", "xlsx")["sale_price"]
    assert sale_price.type == "string" and "number" in sale_price.fits


@pytest.mark.samples
def test_sample_edge_telemetry_types():
    cols = infer_sample("edge_telemetry_sample.csv", "csv")
    assert cols["ts"].type == "datetime" and cols["event_id"].type == "string"
    assert (cols["value"].type, cols["value"].nullable) == ("number", True)
    assert cols["rssi_dbm"].type == "integer" and cols["message"].type == "null"


def infer_fits(columns, *, text_typed=True, batch_rows=None):
    inferrer = SchemaInferrer(text_typed=text_typed)
    batch = pa.record_batch(columns)
    step = batch_rows or batch.num_rows
    for start in range(0, batch.num_rows, step):
        inferrer.feed(batch.slice(start, step))
    return {c.name: (c.type, c.fits) for c in inferrer.result()}


def test_text_records_the_narrower_types_its_values_cast_to_without_loss():
    got = infer_fits(
        {
            "midnight": ["2020-10-28 00:00:00", "2020-10-29T00:00:00", "2020-10-30T00:00:00Z", None],
            "timed": ["2020-10-28 00:00:00", "2020-10-28 10:30:00", None, None],
            "offset": ["2020-10-28T00:00:00-05:00", "2020-10-28 00:00:00", None, None],
            "whole": ["1999.0", "2001.00", "-3.", None],
            "fraction": ["1999.0", "12.5", None, None],
            "code": ["07316", "81073", None, None],
            "integer": ["1999", "12", None, None],
        }
    )
    assert got == {
        "midnight": ("datetime", frozenset({"date"})),
        "timed": ("datetime", frozenset()),
        "offset": ("datetime", frozenset()),  # midnight in New York is 05:00 UTC, not a date
        "whole": ("number", frozenset({"integer"})),
        "fraction": ("number", frozenset()),
        "code": ("string", frozenset()),  # a leading zero is a code: never an integer
        "integer": ("integer", frozenset()),  # the lattice already makes it fit number and string
    }


def test_untyped_text_records_every_type_it_would_cast_to():
    got = infer_fits(
        {
            "digits": ["1999", "12", None],
            "decimals": ["1.5", "2", None],
            "dates": ["2020-10-28", "2020-10-29 00:00:00", None],
            "flags": ["true", "FALSE", None],
            "currency": ["$1,234.00", "$5.00", None],
        },
        text_typed=False,
    )
    assert got == {
        "digits": ("string", frozenset({"integer", "number"})),
        "decimals": ("string", frozenset({"number"})),
        "dates": ("string", frozenset({"date", "datetime"})),
        "flags": ("string", frozenset({"boolean"})),
        "currency": ("string", frozenset()),
    }


def test_native_whole_floats_and_midnight_timestamps_fit_integer_and_date():
    got = infer_fits(
        {
            "whole": pa.array([1999.0, None, 12.0]),
            "fraction": pa.array([1999.0, None, 12.5]),
            "midnight": pa.array([dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 2)]),
            "timed": pa.array([dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 2, 9)]),
        },
        text_typed=False,
    )
    assert got == {
        "whole": ("number", frozenset({"integer"})),
        "fraction": ("number", frozenset()),
        "midnight": ("datetime", frozenset({"date"})),
        "timed": ("datetime", frozenset()),
    }


def test_fits_hold_only_what_every_batch_fits():
    got = infer_fits(
        {
            "late_fraction": ["1999", "2000.0", "12.5", None],
            "late_time": ["2020-10-28", "2020-10-29 00:00:00", "2020-10-30 08:00:00", None],
            "late_null": ["2020-10-28 00:00:00", None, None, None],
            "digits_then_text": ["1", "2", "x", "3"],
        },
        text_typed=False,
        batch_rows=1,
    )
    assert got == {
        "late_fraction": ("string", frozenset({"number"})),
        "late_time": ("string", frozenset({"datetime"})),
        "late_null": ("string", frozenset({"date", "datetime"})),  # an all-null batch proves nothing
        "digits_then_text": ("string", frozenset()),
    }


def test_zoned_timestamps_fit_date_only_at_midnight_utc():
    utc = pa.timestamp("us", tz="UTC")
    paris = pa.timestamp("us", tz="Europe/Paris")
    at_utc_midnight = pa.array([dt.datetime(2024, 1, 1)], utc).cast(paris)  # 01:00 in Paris
    at_paris_midnight = pa.array([dt.datetime(2023, 12, 31, 23)], utc).cast(paris)
    got = infer_fits({"utc": at_utc_midnight, "paris": at_paris_midnight}, text_typed=False)
    assert got == {"utc": ("datetime", frozenset({"date"})), "paris": ("datetime", frozenset())}

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
def test_sample_parcels_type_change_shows_sale_price_as_text():
    assert infer_sample("parcels_drift_type_change.xlsx", "xlsx")["sale_price"].type == "string"


@pytest.mark.samples
def test_sample_edge_telemetry_types():
    cols = infer_sample("edge_telemetry_sample.csv", "csv")
    assert cols["ts"].type == "datetime" and cols["event_id"].type == "string"
    assert (cols["value"].type, cols["value"].nullable) == ("number", True)
    assert cols["rssi_dbm"].type == "integer" and cols["message"].type == "null"

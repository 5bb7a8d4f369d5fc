"""The row-binding rule of device-sent files (eventpulse.devices.binding)."""

from __future__ import annotations

from eventpulse.devices.binding import (
    ROW_BOUND_EXPECTATION,
    bind_row,
    binding_failure,
    describe_foreign,
    device_of_source,
    device_source,
)


def test_a_row_naming_the_sender_is_its_own():
    assert bind_row("dev-a", "dev-a") == "own"


def test_an_absent_device_id_is_filled_with_the_sender():
    assert bind_row(None, "dev-a") == "fill"
    assert bind_row("", "dev-a") == "fill"


def test_a_row_naming_another_device_is_foreign_even_by_case():
    assert bind_row("dev-b", "dev-a") == "foreign"
    assert bind_row("DEV-A", "dev-a") == "foreign"  # ids are compared exactly, as stored


def test_the_failure_entry_names_the_rule_and_the_sender():
    assert binding_failure("dev-a") == {
        "expectation_type": ROW_BOUND_EXPECTATION,
        "kwargs": {"device_id": "dev-a"},
        "severity": "critical",
    }


def test_the_refusal_reason_counts_and_names_the_foreign_devices():
    reason = describe_foreign("dev-a", {"dev-c": 1, "dev-b": 2})
    assert reason.startswith("3 row(s) of a file sent by device 'dev-a'")
    assert reason.index("'dev-b' (2)") < reason.index("'dev-c' (1)")


def test_source_round_trip():
    assert device_of_source(device_source("dev-a")) == "dev-a"
    assert device_of_source("api") is None and device_of_source("device:") is None


def test_the_pipeline_binder_applies_the_same_rule_to_a_batch():
    import pyarrow as pa

    from eventpulse.pipeline.loading import DeviceBinder

    values = ["dev-a", None, "", "dev-b", "DEV-A", "dev-a"]
    batch = pa.record_batch({"device_id": pa.array(values, pa.string()), "_source_row": list(range(1, 7))})
    binder = DeviceBinder(sender="dev-a", quarantines=True)

    bound, foreign = binder.bind(batch, batch)

    rules = [bind_row(v, "dev-a") for v in values]
    assert foreign.to_pylist() == [r == "foreign" for r in rules]
    assert bound.column(0).to_pylist() == ["dev-a", "dev-a", "dev-a", "dev-b", "DEV-A", "dev-a"]
    assert binder.foreign == {"dev-b": 1, "DEV-A": 1}
    assert [r.source_row for r in binder.records] == [4, 5]
    assert binder.records[0].failures == [binding_failure("dev-a")]

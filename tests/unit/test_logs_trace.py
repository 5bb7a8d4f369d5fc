"""Trace headers: W3C traceparent and X-Cloud-Trace-Context, and malformed ones ignored."""

from __future__ import annotations

import pytest

from eventpulse.logs.trace import Trace, parse_cloud_trace_context, parse_traceparent, trace_from_headers

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_gives_the_trace_the_span_and_the_sampled_flag() -> None:
    assert parse_traceparent(f"00-{TRACE_ID}-00f067aa0ba902b7-01") == Trace(
        TRACE_ID, "00f067aa0ba902b7", True
    )
    assert parse_traceparent(f"00-{TRACE_ID}-00f067aa0ba902b7-00") == Trace(
        TRACE_ID, "00f067aa0ba902b7", False
    )


def test_a_future_traceparent_version_may_carry_more_fields() -> None:
    assert parse_traceparent(f"01-{TRACE_ID}-00f067aa0ba902b7-01-what-comes-next") is not None


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",  # version ff is forbidden
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01",  # short trace id
        f"00-{TRACE_ID}-00f067aa0ba902b7-01\ninjected",
        f"00-{TRACE_ID}-00f067aa0ba902b7-" + "1" * 600,  # absurdly long
    ],
)
def test_a_malformed_traceparent_is_ignored(header: str | None) -> None:
    assert parse_traceparent(header) is None


def test_cloud_trace_context_turns_the_decimal_span_into_hex() -> None:
    assert parse_cloud_trace_context(f"{TRACE_ID}/1;o=1") == Trace(TRACE_ID, "0000000000000001", True)
    assert parse_cloud_trace_context(f"{TRACE_ID}/18446744073709551615;o=0") == Trace(
        TRACE_ID, "ffffffffffffffff", False
    )


def test_cloud_trace_context_may_omit_the_span_and_the_options() -> None:
    assert parse_cloud_trace_context(TRACE_ID) == Trace(TRACE_ID, None, None)
    assert parse_cloud_trace_context(f"{TRACE_ID.upper()}/7") == Trace(TRACE_ID, "0000000000000007", None)


@pytest.mark.parametrize(
    "header",
    [
        "not-a-trace/1;o=1",
        f"{TRACE_ID}/abc;o=1",  # the span is decimal
        f"{TRACE_ID}/18446744073709551616",  # more than 64 bits
        f"{TRACE_ID}/0",  # span 0 means none: malformed
        f"{'0' * 32}/1;o=1",
        f"{TRACE_ID}/1;o=1 trailing",
    ],
)
def test_a_malformed_cloud_trace_context_is_ignored(header: str) -> None:
    assert parse_cloud_trace_context(header) is None


def test_traceparent_wins_and_a_malformed_one_falls_back_to_the_cloud_header() -> None:
    other = "0af7651916cd43dd8448eb211c80319c"
    both = trace_from_headers(f"00-{TRACE_ID}-00f067aa0ba902b7-01", f"{other}/1;o=1")
    assert both is not None and both.trace_id == TRACE_ID
    fallback = trace_from_headers("garbage", f"{other}/1;o=1")
    assert fallback is not None and fallback.trace_id == other
    assert trace_from_headers(None, None) is None


def test_trace_fields_leave_out_what_the_caller_did_not_send() -> None:
    assert Trace(TRACE_ID).to_fields() == {"trace_id": TRACE_ID, "span_id": None, "trace_sampled": None}

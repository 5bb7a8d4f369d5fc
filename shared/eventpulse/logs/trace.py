"""The trace a request belongs to, from W3C ``traceparent`` or Google's ``X-Cloud-Trace-Context`` (pure).

A malformed header is ignored (the request simply has no trace): a client must never be able to make
the server fail, or write arbitrary text into the trace fields, through these headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# version-traceid-parentid-flags; version ff is forbidden; a future version may append fields.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?$")
# TRACE_ID/SPAN_ID;o=OPTIONS, the span id in decimal (both the span and the options are optional).
_CLOUD_TRACE = re.compile(r"^([0-9a-f]{32})(?:/([0-9]{1,20}))?(?:;o=([0-9]+))?$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_MAX_HEADER = 512


@dataclass(frozen=True)
class Trace:
    trace_id: str
    """32 lowercase hex digits."""
    span_id: str | None = None
    """16 lowercase hex digits (Cloud Logging's ``spanId`` format), when the caller sent one."""
    sampled: bool | None = None
    """The caller's sampling decision, when it sent one."""

    def to_fields(self) -> dict[str, object]:
        """The log-context fields for this trace (``None`` values are not bound)."""
        return {"trace_id": self.trace_id, "span_id": self.span_id, "trace_sampled": self.sampled}


def parse_traceparent(header: str | None) -> Trace | None:
    """A W3C trace-context ``traceparent`` header, or None when absent or malformed."""
    found = _TRACEPARENT.match(_clean(header))
    if found is None:
        return None
    version, trace_id, span_id, flags, extra = found.groups()
    if version == "ff" or (version == "00" and extra) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return Trace(trace_id, span_id, bool(int(flags, 16) & 1))


def parse_cloud_trace_context(header: str | None) -> Trace | None:
    """An ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` header, or None when absent or malformed."""
    found = _CLOUD_TRACE.match(_clean(header))
    if found is None:
        return None
    trace_id, span, options = found.groups()
    if trace_id == _ZERO_TRACE:
        return None
    span_id = None
    if span is not None:
        number = int(span)
        if not 0 < number < 2**64:
            return None
        span_id = f"{number:016x}"
    sampled = None if options is None else bool(int(options) & 1)
    return Trace(trace_id, span_id, sampled)


def trace_from_headers(traceparent: str | None, cloud_trace_context: str | None) -> Trace | None:
    """The request's trace: ``traceparent`` first (the W3C standard), then ``X-Cloud-Trace-Context``."""
    return parse_traceparent(traceparent) or parse_cloud_trace_context(cloud_trace_context)


def _clean(header: str | None) -> str:
    if not header or len(header) > _MAX_HEADER:
        return ""
    return header.strip().lower()

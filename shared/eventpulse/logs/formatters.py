"""The two line formats: Cloud Logging's structured JSON (python-json-logger) and text for a terminal.

Both read the context fields that ``ContextFilter`` captured on the record, and both pass their text
through ``redact`` so a credential that slipped into a message or a traceback is not written out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from eventpulse.logs.context import current_fields
from eventpulse.logs.redact import redact

FIELDS_ATTR = "_eventpulse_fields"
"""The record attribute holding the context fields (the leading ``_`` keeps it out of extras)."""

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"
SOURCE_KEY = "logging.googleapis.com/sourceLocation"

_SEVERITIES: tuple[tuple[int, str], ...] = tuple(
    (level, logging.getLevelName(level)) for level in (50, 40, 30, 20, 10)
)
_TRACE_FIELDS = ("trace_id", "span_id", "trace_sampled")
_TEXT_HIDDEN = ("span_id", "trace_sampled")  # a terminal reader wants the trace id, not the span


def decide_severity(levelno: int) -> str:
    """Cloud Logging's LogSeverity for a Python level (custom levels round down; below DEBUG: DEFAULT)."""
    for threshold, name in _SEVERITIES:
        if levelno >= threshold:
            return name
    return "DEFAULT"


def build_rfc3339(created: float) -> str:
    """``created`` (epoch seconds) as an RFC 3339 UTC timestamp with microseconds."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def fields_of(record: logging.LogRecord) -> Mapping[str, object]:
    """The context fields of ``record``: captured by ``ContextFilter``, else those in force now."""
    captured = getattr(record, FIELDS_ATTR, None)
    return captured if captured is not None else current_fields()


class ContextFilter(logging.Filter):
    """Captures the context fields on each record as it reaches the handler (in the logging thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, FIELDS_ATTR, None) is None:
            setattr(record, FIELDS_ATTR, current_fields())
        return True


class CloudLoggingFormatter(JsonFormatter):
    """One JSON object per line, in the shape Cloud Logging and Error Reporting read from stderr."""

    def __init__(self, project: str | None = None) -> None:
        # The traceback goes to ``stack_trace``: the first field Error Reporting looks at.
        super().__init__(["message"], rename_fields={"exc_info": "stack_trace"}, json_ensure_ascii=False)
        self.project = project

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)  # message, extra=..., stack_trace
        head: dict[str, Any] = {
            "severity": decide_severity(record.levelno),
            "message": redact(str(log_data.pop("message", ""))),
            "time": build_rfc3339(record.created),
            "logger": record.name,
            "thread": record.threadName,
            SOURCE_KEY: {"file": record.pathname, "line": str(record.lineno), "function": record.funcName},
        }
        fields = dict(fields_of(record))
        head.update(self._trace_fields(fields))
        head.update({key: value for key, value in fields.items() if key not in _TRACE_FIELDS})
        if "stack_trace" in log_data:
            log_data["stack_trace"] = redact(str(log_data["stack_trace"]))
        rest = dict(log_data)
        log_data.clear()
        log_data.update(head)
        log_data.update(rest)

    def _trace_fields(self, fields: Mapping[str, object]) -> dict[str, object]:
        trace_id = fields.get("trace_id")
        if not trace_id:
            return {}
        trace = f"projects/{self.project}/traces/{trace_id}" if self.project else str(trace_id)
        out: dict[str, object] = {TRACE_KEY: trace}
        if fields.get("span_id"):
            out[SPAN_KEY] = fields["span_id"]
        if fields.get("trace_sampled") is not None:
            out[SAMPLED_KEY] = bool(fields["trace_sampled"])
        return out


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [field=value ...]`` and the traceback, for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s%(_eventpulse_suffix)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = fields_of(record)
        shown = " ".join(f"{key}={value}" for key, value in fields.items() if key not in _TEXT_HIDDEN)
        record._eventpulse_suffix = f" [{shown}]" if shown else ""
        return redact(super().format(record))

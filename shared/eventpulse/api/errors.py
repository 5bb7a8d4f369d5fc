"""One error envelope for every HTTP error, and the request id that ties a response to the server log.

Every error body is ``{"error": {"status", "code", "message", "hint", "details"}}``; ``details`` always
carries the ``request_id``. Unexpected exceptions get a generic message: the traceback goes to the log only.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from eventpulse.errors import EventPulseError, Overloaded

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

HTTP_CODES = {413: "payload_too_large", 415: "unsupported_media_type", 500: "internal_error"}
HTTP_HINTS = {
    404: "check the URL; the API lives under /api/ (liveness: /health, readiness: /readyz)",
    405: "use one of the allowed methods listed in details.allowed_methods",
    413: "split the file, or raise EVENTPULSE_UPLOAD_MAX_BYTES",
}


def build_envelope(
    status: int, code: str, message: str, *, hint: str = "", details: dict[str, Any] | None = None
) -> Response:
    """The one error response of the API."""
    body = {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "hint": hint,
            "details": {**(details or {}), "request_id": current_request_id()},
        }
    }
    response = jsonify(body)
    response.status_code = status
    return response


def current_request_id() -> str:
    request_id = g.get("request_id")
    if request_id is None:
        request_id = g.request_id = uuid.uuid4().hex
    return str(request_id)


def _assign_request_id() -> None:
    # A caller-supplied id is kept when it is harmless, so a proxy's id follows the request into our log.
    supplied = request.headers.get("X-Request-Id", "")
    g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-Id"] = current_request_id()
    return response


def handle_eventpulse_error(exc: EventPulseError) -> Response:
    if exc.http_status >= 500:
        log.error("request %s failed: %s", current_request_id(), exc.message, exc_info=exc)
    response = build_envelope(
        exc.http_status, exc.code, exc.message, hint=exc.hint, details=dict(exc.details)
    )
    if isinstance(exc, Overloaded):  # 429: the one header every HTTP client knows to wait on
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def handle_http_exception(exc: HTTPException) -> Response | HTTPException:
    status = exc.code or 500
    if status < 400:
        return exc  # redirects (e.g. a missing trailing slash) are not errors
    name = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    details: dict[str, Any] = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        details["allowed_methods"] = sorted(exc.valid_methods)
    response = build_envelope(
        status,
        HTTP_CODES.get(status, name),
        exc.description or exc.name,
        hint=HTTP_HINTS.get(status, ""),
        details=details,
    )
    if "allowed_methods" in details:
        response.headers["Allow"] = ", ".join(details["allowed_methods"])
    return response


def handle_unexpected(exc: Exception) -> Response:
    request_id = current_request_id()
    log.error("request %s %s %s failed", request_id, request.method, request.path, exc_info=exc)
    return build_envelope(
        500,
        "internal_error",
        "The server hit an unexpected error.",
        hint="retry later; if it persists, report the request_id to the operators",
    )


def install(app: Flask) -> None:
    """Register the request id hooks and the error handlers on ``app``."""
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.register_error_handler(EventPulseError, handle_eventpulse_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

"""Parsing of cloud triggers and mapping of results, shared by every ``functions/*/main.py``.

A function parses its trigger here, gets services, calls one core function and maps the result here.
Errors follow the platform's retry contract: a retryable failure raises (HTTP 5xx or an unacknowledged
event, so the platform redelivers); a terminal one is answered or acknowledged, so a poison message
cannot loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Request, Response

from eventpulse.api.access_log import request_log_context
from eventpulse.api.auth import identify_bearer
from eventpulse.api.errors import current_request_id, handle_eventpulse_error, handle_unexpected
from eventpulse.api.present import to_json_value
from eventpulse.api.roles import has_role
from eventpulse.errors import BadRequest, EventPulseError, Forbidden, TerminalError, Unauthorized
from eventpulse.settings import Settings, TokenRole

log = logging.getLogger(__name__)

FINALIZED = "google.cloud.storage.object.v1.finalized"
JSON_BODY_MAX_BYTES = 64 * 1024

T = TypeVar("T")


class BadTrigger(TerminalError):
    """The event or request cannot be understood; redelivering it would not help."""

    code = "bad_trigger"
    http_status = 400


@dataclass(frozen=True)
class StorageObjectEvent:
    """The fields of a GCS ``StorageObjectData`` payload that registration needs."""

    event_id: str
    bucket: str
    name: str
    generation: int
    size: int
    metadata: dict[str, str]


def parse_storage_event(attributes: Mapping[str, Any], data: object) -> StorageObjectEvent:
    """The object of an object-finalized CloudEvent (binary or structured mode alike)."""
    if attributes.get("type") != FINALIZED:
        raise BadTrigger(f"event type {attributes.get('type')!r} is not {FINALIZED}")
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data or b"null")
        except ValueError:
            raise BadTrigger("the event data is not JSON") from None
    if not isinstance(data, Mapping):
        raise BadTrigger("the event data is not a StorageObjectData object")
    bucket, name = data.get("bucket"), data.get("name")
    if not isinstance(bucket, str) or not isinstance(name, str) or not bucket or not name:
        raise BadTrigger("the event data has no bucket or object name")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise BadTrigger("the object metadata is not a map")
    try:  # int64 fields arrive as JSON strings
        generation, size = int(data.get("generation") or 0), int(data.get("size") or 0)
    except (TypeError, ValueError):
        raise BadTrigger("generation and size must be integers") from None
    return StorageObjectEvent(
        event_id=str(attributes.get("id", "")),
        bucket=bucket,
        name=name,
        generation=generation,
        size=size,
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


def acknowledge_terminal(event_id: str, call: Callable[[], T]) -> T | None:
    """Run ``call``; a terminal EventPulse error is logged and acknowledged, anything else raises."""
    try:
        return call()
    except EventPulseError as exc:
        if exc.retryable:
            raise
        log.error("event %s acknowledged without effect: %s (%s)", event_id, exc.message, exc.code)
        return None


def respond(call: Callable[[], tuple[int, Mapping[str, Any]]]) -> Response:
    """Run ``call`` and answer its (status, JSON body); errors get the API's one error envelope."""
    with request_log_context():  # the request id and trace on every line, error lines included
        response = _answer(call)
    response.headers["X-Request-Id"] = current_request_id()
    return response


def _answer(call: Callable[[], tuple[int, Mapping[str, Any]]]) -> Response:
    try:
        status, body = call()
    except EventPulseError as exc:
        return handle_eventpulse_error(exc)
    except Exception as exc:  # the envelope hides the traceback; the log keeps it
        return handle_unexpected(exc)
    text = json.dumps(body, default=to_json_value, ensure_ascii=False)
    return Response(text, status=status, mimetype="application/json")


class MethodNotAllowed(EventPulseError):
    code = "method_not_allowed"
    http_status = 405


def ensure_method(request: Request, method: str) -> None:
    if request.method != method:
        raise MethodNotAllowed(
            f"{request.method} is not accepted here",
            hint=f"send {method}",
            details={"allowed_methods": [method]},
        )


def ensure_bearer(request: Request, settings: Settings, *, role: TokenRole = "operator") -> str:
    """The caller's actor name (``token:<name>``); raises unless a token with ``role`` or higher is sent."""
    if settings.auth_disabled:
        return "local-dev"
    principal = identify_bearer(settings, request.headers.get("Authorization"))
    if principal is None:
        raise Unauthorized("a valid API token is required", hint="send 'Authorization: Bearer <token>'")
    if not has_role(principal, role):
        raise Forbidden(
            f"this needs the {role} role; {principal.actor} has the {principal.role} role",
            hint=f"use a token with the {role} role or higher (viewer < operator < admin)",
            details={"required_role": role, "token_role": principal.role},
        )
    return principal.actor


def load_json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body (at most 64 KiB)."""
    if (request.content_length or 0) > JSON_BODY_MAX_BYTES:
        raise BadRequest(f"the JSON body is larger than {JSON_BODY_MAX_BYTES} bytes")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", hint="send Content-Type: application/json")
    return body


def optional_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key} must be a string", details={"parameter": key})
    return value or None


def required_str(body: Mapping[str, Any], key: str) -> str:
    value = optional_str(body, key)
    if value is None:
        raise BadRequest(f"{key} is required", details={"parameter": key})
    return value


def optional_str_list(body: Mapping[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"{key} must be a list of strings", details={"parameter": key})
    return value

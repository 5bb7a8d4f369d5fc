"""The task processor's core: authenticate the dispatcher, parse the task, process, map to an HTTP answer.

Cloud Tasks retries EVERY answer outside 200-299 (4xx included) until the queue's retry config gives
up, and ``Retry-After``/503 only slow it down. So the status codes mean:

- 200: a terminal outcome (LOADED, FAILED_QUALITY, FAILED_DRIFT, QUARANTINED, FAILED_MAX_ATTEMPTS, ...),
  a duplicate delivery of an ingestion already past processing, and a poison task (a body that is not
  ``{"ingestion_id": "<uuid>"}``, or an unknown ingestion): acknowledged, so it cannot loop;
- 500: a retryable failure (``ProcessResult.retry``, or an unexpected exception): redelivered;
- 503: the ingestion is being processed by another delivery. Redelivered later, with a longer backoff,
  which also keeps the task alive when that worker died: once reclaim releases its stale claim, the
  next delivery processes the file. (A 200 here would end the task, and Cloud Tasks refuses the same
  task name for an hour, so reclaim's re-enqueue would need a new name.)
- 401/403: no credential / a wrong one. Retried up to the queue's max attempts, then dropped; the
  ingestion stays RECEIVED and reclaim re-delivers it once the credential is fixed.

Authentication: ``X-Task-Token`` is checked against ``settings.task_token_sha256`` in constant time
(the API's helper). In production Cloud Tasks sends an OIDC token instead, and Cloud Run verifies it
before the request reaches this code (the function is deployed without unauthenticated access and
only the tasks service account may invoke it). Such a request is trusted only when the settings say
that is how this deployment works: ``mode=cloud`` and ``task_oidc_service_account`` set; then a bearer
token must still be present. Bodies never carry tracebacks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eventpulse.api.auth import bearer_token, is_token_accepted
from eventpulse.settings import Settings
from eventpulse.states import Status

if TYPE_CHECKING:
    from eventpulse.pipeline.processor import ProcessResult
    from eventpulse.ports import Services

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Task-Token"
TASK_NAME_HEADER = "X-CloudTasks-TaskName"
RETRY_COUNT_HEADER = "X-CloudTasks-TaskRetryCount"
MAX_BODY_BYTES = 16 * 1024

Answer = tuple[int, dict[str, Any]]


class PoisonTask(ValueError):
    """The task body can never be processed; it is acknowledged, not retried."""


def handle_task(services: Services, *, body: bytes, headers: Mapping[str, str]) -> Answer:
    """Authenticate, parse ``{"ingestion_id": ...}``, process it; return (HTTP status, JSON body)."""
    task = header(headers, TASK_NAME_HEADER) or ""
    refused = authenticate(services.settings, headers)
    if refused is not None:
        log.warning("task %s refused: %s", task or "(unnamed)", refused[1]["error"]["code"])
        return refused
    try:
        ingestion_id = parse_task_body(body)
    except PoisonTask as exc:
        log.error("task %s acknowledged without processing: %s", task or "(unnamed)", exc)
        return 200, {"outcome": "rejected", "error": {"code": "bad_task", "message": str(exc)}}
    try:
        from eventpulse.pipeline.processor import process_ingestion

        result = process_ingestion(services, ingestion_id)
        answer = answer_for(services, result)
    except Exception:
        log.exception("task %s for ingestion %s failed; Cloud Tasks retries it", task, ingestion_id)
        return error(
            500,
            "internal_error",
            f"processing ingestion {ingestion_id} failed unexpectedly",
            hint="the task is retried; the worker log has the details",
            details={"ingestion_id": str(ingestion_id)},
        )
    log.info(
        "task %s (retry %s): ingestion %s -> HTTP %s %s",
        task,
        header(headers, RETRY_COUNT_HEADER) or "0",
        ingestion_id,
        answer[0],
        answer[1].get("status") or answer[1].get("error", {}).get("code"),
    )
    return answer


def authenticate(settings: Settings, headers: Mapping[str, str]) -> Answer | None:
    """None when the caller may submit tasks; else the 401/403 answer."""
    if settings.auth_disabled:
        return None
    token = header(headers, TOKEN_HEADER)
    if token:
        if is_token_accepted(token, settings.task_token_sha256):
            return None
        return error(
            403,
            "forbidden",
            f"the {TOKEN_HEADER} header does not match any accepted task token",
            hint="send the token whose sha256 is in EVENTPULSE_TASK_TOKEN_SHA256",
        )
    if is_oidc_trusted(settings) and bearer_token(header(headers, "Authorization")):
        return None
    return error(
        401,
        "unauthorized",
        f"a task credential is required: the {TOKEN_HEADER} header, or Cloud Tasks' OIDC token in production",
        hint="set EVENTPULSE_TASK_TOKEN where tasks are enqueued and its sha256 in "
        "EVENTPULSE_TASK_TOKEN_SHA256 here",
    )


def is_oidc_trusted(settings: Settings) -> bool:
    """True when Cloud Run has verified the OIDC token before the request reached us (see module doc)."""
    return settings.mode == "cloud" and bool(settings.task_oidc_service_account)


def parse_task_body(body: bytes) -> uuid.UUID:
    """The ingestion id of a ``{"ingestion_id": "<uuid>"}`` body; PoisonTask otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise PoisonTask(f"task body of {len(body)} bytes is larger than {MAX_BODY_BYTES}")
    try:
        payload = json.loads(body)
    except ValueError:
        raise PoisonTask("task body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("ingestion_id"), str):
        raise PoisonTask('task body must be a JSON object {"ingestion_id": "<uuid>"}')
    try:
        return uuid.UUID(payload["ingestion_id"])
    except ValueError:
        raise PoisonTask(f"ingestion_id {payload['ingestion_id'][:80]!r} is not a UUID") from None


def answer_for(services: Services, result: ProcessResult) -> Answer:
    """Map a processing result to the HTTP answer Cloud Tasks acts on (see the module doc)."""
    status = result.status
    if status is None and not result.processed:  # unknown id, or our claim was lost mid-way
        with services.store.read() as tx:
            row = tx.ingestions.get(result.ingestion_id)
        status = Status(row["status"]) if row is not None else None
    body: dict[str, Any] = {
        "ingestion_id": str(result.ingestion_id),
        "status": str(status) if status is not None else None,
        "processed": result.processed,
    }
    if result.retry:
        return error(
            500,
            "retryable_failure",
            f"ingestion {result.ingestion_id} failed with a retryable error",
            hint="Cloud Tasks retries the task; the error is recorded on the ingestion",
            details=body,
        )
    if status is None:
        return 200, {**body, "outcome": "unknown_ingestion"}
    if not result.processed and status in (Status.PROCESSING, Status.RECEIVED, Status.FAILED_EXCEPTION):
        return error(
            503,
            "in_flight",
            f"ingestion {result.ingestion_id} is being processed by another delivery",
            hint="retried later; a dead worker's claim is released by the reclaim job",
            details=body,
        )
    return 200, {**body, "outcome": "processed" if result.processed else "duplicate"}


def error(
    status: int, code: str, message: str, *, hint: str = "", details: dict[str, Any] | None = None
) -> Answer:
    """The API's error envelope."""
    return status, {
        "error": {"status": status, "code": code, "message": message, "hint": hint, "details": details or {}}
    }


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value, looked up case-insensitively (a plain dict is case-sensitive)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)

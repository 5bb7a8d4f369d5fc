"""Error types shared by every layer.

Each error names the entity it concerns and says what to do next. ``retryable`` tells the pipeline
whether to re-raise (the platform redelivers) or to record a terminal failure and acknowledge.
"""

from __future__ import annotations

from typing import Any


class EventPulseError(Exception):
    """Base error: a stable ``code``, a human ``message``, a ``hint`` with the next step."""

    code = "error"
    http_status = 500
    retryable = False

    def __init__(self, message: str, *, hint: str = "", details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class TerminalError(EventPulseError):
    """Processing cannot succeed by retrying: record it and acknowledge the task."""

    code = "terminal"


class RetryableError(EventPulseError):
    """A transient failure (database, network, storage): re-raise so the task is redelivered."""

    code = "retryable"
    retryable = True


class CuratedTableUnchanged(RetryableError):
    """The database refused to change a curated table (DDL); the driver's error is in the log only."""

    code = "curated_table_change_failed"


class CuratedTableImpossible(TerminalError):
    """The curated table can never take this file's schema (e.g. Postgres's 1,600-column limit)."""

    code = "curated_table_impossible"


class LoadRefused(RetryableError):
    """The database refused the rows of a load (e.g. an operator's constraint); details in the log only."""

    code = "load_refused"


class BadRequest(EventPulseError):
    code = "bad_request"
    http_status = 400


class Unauthorized(EventPulseError):
    code = "unauthorized"
    http_status = 401


class NotConfigured(EventPulseError):
    """A feature the request needs is not configured on this server (an operator's fix, not the caller's)."""

    code = "not_configured"
    http_status = 503


class Forbidden(EventPulseError):
    """The caller is known, but its role does not allow this."""

    code = "forbidden"
    http_status = 403


class DatasetNotAllowed(Forbidden):
    """A device asked to send a dataset it may not: its own code, so an agent tells it from revocation.

    A revoked device must stop everything; a dataset refusal only means its batches wait for an admin
    to allow the dataset, while heartbeats and commands go on.
    """

    code = "dataset_not_allowed"


class NotFound(EventPulseError):
    code = "not_found"
    http_status = 404


class Conflict(EventPulseError):
    code = "conflict"
    http_status = 409


class PayloadTooLarge(EventPulseError):
    code = "payload_too_large"
    http_status = 413


class StorageFull(EventPulseError):
    """The disk (or quota) under the landing or temp folder is full: nothing was kept."""

    code = "insufficient_storage"
    http_status = 507
    retryable = True


class UnsupportedMediaType(EventPulseError):
    code = "unsupported_media_type"
    http_status = 415


class BadData(TerminalError):
    """The file's values cannot be stored as they are (e.g. a NUL character in text): FAILED_QUALITY."""

    code = "bad_data"


class ReadError(BadData):
    """The file cannot be parsed: wrong encoding, empty, malformed, a missing sheet (FAILED_READ)."""

    code = "read_error"


class ContractError(TerminalError):
    """A contract file is missing or invalid."""

    code = "contract_error"
    http_status = 422


class MartRefused(ContractError):
    """A mart declared in a contract that PostgreSQL will not create (its message says why)."""

    code = "mart_refused"


class Overloaded(EventPulseError):
    """The intake sheds load: too many files wait for a worker. Retry after ``retry_after_seconds``."""

    code = "overloaded"
    http_status = 429
    retryable = True

    def __init__(
        self, message: str, *, retry_after_seconds: int, hint: str = "", details: dict[str, Any] | None = None
    ):
        super().__init__(
            message, hint=hint, details={**(details or {}), "retry_after_seconds": retry_after_seconds}
        )
        self.retry_after_seconds = retry_after_seconds

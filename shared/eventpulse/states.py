"""The ingestion state machine: states, allowed transitions, and which states a worker may claim (pure)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    LOADED = "LOADED"
    PARTIALLY_LOADED = "PARTIALLY_LOADED"
    """Loaded, except rows held back in the quarantine store (``rows_quarantined``)."""
    QUARANTINED = "QUARANTINED"
    REJECTED = "REJECTED"
    FAILED_DRIFT = "FAILED_DRIFT"
    FAILED_READ = "FAILED_READ"
    FAILED_QUALITY = "FAILED_QUALITY"
    FAILED_CONTRACT = "FAILED_CONTRACT"
    FAILED_EXCEPTION = "FAILED_EXCEPTION"
    FAILED_MAX_ATTEMPTS = "FAILED_MAX_ATTEMPTS"


CLAIMABLE: frozenset[Status] = frozenset({Status.RECEIVED, Status.FAILED_EXCEPTION})
"""Only these may move to PROCESSING; everything else is either in flight or final."""

TERMINAL: frozenset[Status] = frozenset(
    {
        Status.LOADED,
        Status.PARTIALLY_LOADED,
        Status.REJECTED,
        Status.FAILED_READ,
        Status.FAILED_DRIFT,
        Status.FAILED_QUALITY,
        Status.FAILED_CONTRACT,
        Status.FAILED_MAX_ATTEMPTS,
    }
)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.PROCESSING}),
    Status.PROCESSING: frozenset(
        {
            Status.LOADED,
            Status.PARTIALLY_LOADED,
            Status.QUARANTINED,
            Status.FAILED_READ,
            Status.FAILED_DRIFT,
            Status.FAILED_QUALITY,
            Status.FAILED_CONTRACT,
            Status.FAILED_EXCEPTION,
            Status.FAILED_MAX_ATTEMPTS,
        }
    ),
    Status.FAILED_EXCEPTION: frozenset({Status.PROCESSING, Status.FAILED_MAX_ATTEMPTS}),
    # A held schema is approved (processing resumes from RECEIVED) or rejected by an operator.
    Status.QUARANTINED: frozenset({Status.RECEIVED, Status.REJECTED}),
}


LOADED_STATES: frozenset[Status] = frozenset({Status.LOADED, Status.PARTIALLY_LOADED})
"""Final states in which the file's passing rows are in the curated table."""


def is_allowed(current: Status, target: Status) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def status_after_exception(attempts: int, max_attempts: int) -> Status:
    """A retryable failure becomes FAILED_EXCEPTION until the attempts are used up."""
    return Status.FAILED_MAX_ATTEMPTS if attempts >= max_attempts else Status.FAILED_EXCEPTION

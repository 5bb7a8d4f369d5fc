"""What a user is told about a failed attempt (pure): a sentence and the next step, no driver text."""

from __future__ import annotations

import uuid

from eventpulse.errors import LoadRefused, RetryableError
from eventpulse.pipeline.failures import build_failure_error, describe_for_log
from eventpulse.states import Status

KEY = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_an_unexpected_exception_becomes_one_generic_sentence_that_is_retried() -> None:
    error = build_failure_error(KeyError("secret_column"), KEY, Status.FAILED_EXCEPTION)
    assert error == {
        "code": "exception",
        "message": "processing stopped unexpectedly",
        "hint": "it is retried automatically; if it keeps failing, an operator finds the details in the "
        f"worker log under ingestion {KEY}",
    }


def test_the_last_attempt_says_no_attempt_is_left_and_how_to_replay() -> None:
    error = build_failure_error(RuntimeError("boom"), KEY, Status.FAILED_MAX_ATTEMPTS)
    assert error["hint"].startswith("no attempts are left; an operator finds the details")
    assert (
        f"eventpulse replay {KEY}" in error["hint"] and f"POST /api/ingestions/{KEY}/replay" in error["hint"]
    )
    assert "boom" not in str(error) and "RuntimeError" not in str(error)


def test_an_eventpulse_error_keeps_its_own_message_and_hint_while_it_is_retried() -> None:
    own = RetryableError(
        "could not enqueue ingestion x on RQ queue 'default'", hint="check that Redis answers"
    )
    error = build_failure_error(own, KEY, Status.FAILED_EXCEPTION)
    assert error["code"] == "retryable" and error["message"] == own.message
    assert error["hint"].startswith("check that Redis answers; if it keeps failing")


def test_the_log_description_names_every_cause_of_a_wrapped_driver_error() -> None:
    try:
        try:
            raise ValueError("{'C': '23514', 'F': 'execMain.c'}")
        except ValueError as driver:
            raise LoadRefused("the database refused the load") from driver
    except LoadRefused as wrapped:
        described = describe_for_log(wrapped)
    cause = "ValueError: {'C': '23514', 'F': 'execMain.c'}"
    assert described == f"LoadRefused: the database refused the load <- caused by {cause}"

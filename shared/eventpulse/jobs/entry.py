"""The common edge of ``jobs/<name>/main.py``: logging, services, error handling, the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventpulse.errors import EventPulseError
from eventpulse.logs import log_context
from eventpulse.settings import SettingsError

if TYPE_CHECKING:
    from eventpulse.ports import Services

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def echo(line: str) -> None:
    print(line, flush=True)


def run_job(job: str, body: Callable[[Services], int]) -> int:
    """Build the services, run ``body`` and turn errors into an exit code (1 failed, 2 bad input)."""
    from eventpulse.runtime import close_services, get_services

    try:  # get_services configures logging (JSON in cloud mode) from the same settings
        with log_context(job=job):
            return body(get_services())
    except SettingsError as exc:
        print(f"{job}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EventPulseError as exc:
        print(f"{job}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"{job}: hint: {exc.hint}", file=sys.stderr)
        return EXIT_FAILED if exc.http_status >= 500 or exc.retryable else EXIT_USAGE
    finally:
        close_services()

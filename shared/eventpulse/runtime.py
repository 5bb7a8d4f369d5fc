"""The process-wide services of a process entry: built once, from the environment, on first use.

Cloud functions, Cloud Run jobs and the RQ worker (``eventpulse.worker``) all get their services
here. Like ``cli.py``, this module is an edge allowed to read ``os.environ``; nothing under
``functions/`` or ``jobs/`` does, and no adapter builds services. Migrations are a deploy step
(``eventpulse migrate``; the worker runs them before it takes jobs), so a cold start never runs DDL,
and the inline queue never runs on a background thread (a function's instance may be frozen between
requests).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

from eventpulse.errors import EventPulseError
from eventpulse.settings import Settings, SettingsError

if TYPE_CHECKING:
    from flask import Flask

    from eventpulse.ports import Services

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""Exit codes of a Cloud Run job: done, failed (retry may help), bad input (fix the request)."""

_lock = threading.Lock()
_services: Services | None = None
_api_apps: dict[str, Flask] = {}

AppSelection = Literal["all", "edge"]
"""Which blueprints an HTTP function's app serves: the whole REST API, or only ``/api/edge``."""


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default: this process's environment)."""
    return Settings.from_mapping(os.environ if env is None else env)


def get_services() -> Services:
    """The services of this process, built on the first call (thread-safe; later calls are free)."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                from eventpulse.bootstrap import build_services

                settings = load_settings()
                configure_process_logging(settings)
                _services = build_services(settings, background=False, migrate=False)
    return _services


def configure_process_logging(settings: Settings) -> None:
    """JSON lines for Cloud Logging in cloud mode (unless log_format says otherwise), else as configured."""
    from eventpulse.logs import configure_logging

    fmt = "json" if settings.mode == "cloud" and settings.log_format == "auto" else settings.log_format
    configure_logging(fmt, settings.log_level, project=settings.gcp_project)


def get_api_app(selection: AppSelection = "all") -> Flask:
    """The REST API (``create_app``), or its edge subset (``create_edge_app``), over this process's
    services; each built once."""
    app = _api_apps.get(selection)
    if app is None:
        services = get_services()
        with _lock:
            app = _api_apps.get(selection)
            if app is None:
                if selection == "edge":
                    from eventpulse.api.edge_app import create_edge_app

                    app = create_edge_app(services)
                else:
                    from eventpulse.api.app import create_app

                    app = create_app(services)
                _api_apps[selection] = app
    return app


def close_services() -> None:
    """Release the services (connection pool, queue clients); the next ``get_services`` builds anew."""
    global _services
    with _lock:
        services, _services = _services, None
        _api_apps.clear()
    if services is not None:
        services.close()


def run_maintenance_job(job: str, body: Callable[[Services], int]) -> int:
    """The edge of ``jobs/<name>/main.py``: build the services, run ``body``, map errors to an exit code.

    1 for a failure that may pass (the database, storage), 2 for bad input; the message and its hint
    go to stderr. Every log line of the run carries ``job``.
    """
    from eventpulse.logs import log_context

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


def echo(line: str) -> None:
    """One line of a job's report on stdout, flushed (Cloud Run collects it as it comes)."""
    print(line, flush=True)

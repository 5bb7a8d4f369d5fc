"""Access to the Services the app was built with (stored on the app, never in a module global)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import current_app

if TYPE_CHECKING:
    from eventpulse.landing.backpressure import Backlog
    from eventpulse.ports import Services

EXTENSION_KEY = "eventpulse"
BACKLOG_KEY = "eventpulse.backlog"


def current_services() -> Services:
    return cast("Services", current_app.extensions[EXTENSION_KEY])


def current_backlog() -> Backlog:
    """The queue backlog, counted by this app's gauge (created on first use, cached per its TTL)."""
    from eventpulse.landing.backpressure import build_gauge

    gauge = current_app.extensions.get(BACKLOG_KEY)
    if gauge is None:
        gauge = current_app.extensions.setdefault(BACKLOG_KEY, build_gauge(current_services()))
    return cast("Backlog", gauge.read())

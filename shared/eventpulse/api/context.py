"""Access to the Services the app was built with (stored on the app, never in a module global)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import current_app

if TYPE_CHECKING:
    from eventpulse.ports import Services

EXTENSION_KEY = "eventpulse"


def current_services() -> Services:
    return cast("Services", current_app.extensions[EXTENSION_KEY])

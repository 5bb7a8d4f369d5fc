"""How ``eventpulse serve`` configures waitress around the app (pure).

waitress refuses a body over its own ``max_request_body_size`` (1 GiB by default) with a plain-text 413
before the app sees the request. It is set from ``upload_max_bytes``, a little above it, so uploads up
to the documented limit are accepted and one just over it gets the app's JSON error envelope.
"""

from __future__ import annotations

from typing import Any

from eventpulse.settings import Settings

BODY_LIMIT_MARGIN = 1 << 20
"""Bytes waitress accepts beyond ``upload_max_bytes``: the app's own check answers in that band."""


def waitress_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``waitress.serve`` / ``waitress.create_server`` from the settings."""
    # A device's photo or video PUT to the local media route is a body too (issue 8, edge media).
    largest = max(settings.upload_max_bytes, settings.media_max_bytes)
    return {
        "max_request_body_size": largest + BODY_LIMIT_MARGIN,
        # Request headers and bodies are read by waitress's I/O loop, not by a thread: a slow client
        # costs a connection, never a worker thread. So the connection cap is what slow clients
        # exhaust, and it is raised well past waitress's 100.
        "connection_limit": settings.serve_connection_limit,
        "channel_timeout": settings.serve_channel_timeout_seconds,
    }

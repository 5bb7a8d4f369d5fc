"""Bearer-token auth for ``/api`` and task-token auth for internal endpoints.

Tokens are never stored or logged: settings hold their sha256 digests, and a presented token is hashed
and compared against every digest in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, request

from eventpulse.errors import Unauthorized
from eventpulse.settings import Settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])

INTERNAL_ATTR = "_eventpulse_internal"


def internal(view: F) -> F:
    """Mark a view as internal: it takes ``X-Task-Token`` (the task dispatcher's credential) instead."""
    setattr(view, INTERNAL_ATTR, True)
    return view


def is_token_accepted(token: str | None, digests: tuple[str, ...]) -> bool:
    """True when sha256(token) equals one of ``digests``; checks them all, so timing reveals nothing."""
    if not token:
        return False
    candidate = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest().encode()
    accepted = False
    for digest in digests:
        accepted |= hmac.compare_digest(candidate, digest.strip().lower().encode("ascii", "replace"))
    return accepted


def bearer_token(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _check_request() -> None:
    if not request.path.startswith("/api/"):
        return
    settings: Settings = current_app.config["EVENTPULSE_SETTINGS"]
    if settings.auth_disabled:
        g.actor = "local-dev"
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, INTERNAL_ATTR, False):
        if not is_token_accepted(request.headers.get("X-Task-Token"), settings.task_token_sha256):
            raise Unauthorized(
                "this internal endpoint needs a valid X-Task-Token header",
                hint="send the task token configured by EVENTPULSE_TASK_TOKEN_SHA256 in X-Task-Token",
            )
        g.actor = "task"
        return
    if not is_token_accepted(bearer_token(request.headers.get("Authorization")), settings.api_token_sha256):
        raise Unauthorized(
            "a valid API token is required",
            hint="send 'Authorization: Bearer <token>'; locally `eventpulse serve` writes one to "
            "<data_dir>/secrets/api_token",
        )
    g.actor = "api"


def install(app: Flask, settings: Settings) -> None:
    """Check credentials before every ``/api/`` request (unknown ``/api`` routes too: 401 before 404)."""
    if settings.auth_disabled:
        log.warning("authentication is DISABLED (EVENTPULSE_AUTH_DISABLED): every endpoint is open")
    app.before_request(_check_request)


def current_actor() -> str:
    return str(g.get("actor", "anonymous"))

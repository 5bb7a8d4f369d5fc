"""Who is calling, and may they: credentials checked before routing against the route's declared access.

Tokens are never stored or logged: settings hold their sha256 digests, and a presented token is hashed
and compared against every digest in constant time. Each route declares its ``Access`` (see
``api/operations.py``); the policy itself is ``api/roles.py``.

Credentials come from the request in ``identify_bearer`` and ``identify_task``. This is the seam for
the cloud's identity-aware proxy: a verifier of its signed identity header (``X-Goog-IAP-JWT-Assertion``)
becomes one more source of a named ``Principal`` with a role, next to the bearer token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from flask import Flask, current_app, g, request

from eventpulse.api.roles import (
    ADMIN,
    ADMIN_OR_TASK,
    DEVICE,
    LOCAL_DEV,
    PUBLIC,
    TASK_PRINCIPAL,
    VIEWER,
    Access,
    Principal,
    decide_access,
    device_principal,
    has_role,
    token_principal,
)
from eventpulse.errors import Forbidden, NotConfigured, Unauthorized
from eventpulse.ports.devices import Device
from eventpulse.settings import ApiToken, Settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])

ACCESS_ATTR = "_eventpulse_access"
PREFIX_ACCESS = (("/internal/", ADMIN_OR_TASK), ("/api/edge/", DEVICE), ("/api/", VIEWER))
"""Unknown paths under a guarded prefix: a valid credential gets the 404, none gets 401 (no probing).

Under ``/api/edge/`` the valid credential is a device's: an agent newer than its server (say it polls
commands before the server has them) must get a 404 it can live with, not a 401 that reads as "your
token was rotated" and makes it re-enroll and stop."""
UNDECLARED = ADMIN
"""A route under a guarded prefix that declares no access (a bug the auth matrix test catches)."""


def declare_access(view: F, access: Access) -> F:
    """Record on the view who may call it (read back before every request)."""
    setattr(view, ACCESS_ATTR, access)
    return view


def declared_access(view: object) -> Access | None:
    return getattr(view, ACCESS_ATTR, None)


def is_token_accepted(token: str | None, digests: tuple[str, ...]) -> bool:
    """True when sha256(token) equals one of ``digests``; checks them all, so timing reveals nothing."""
    return _match_digest(token, digests) is not None


def match_api_token(token: str | None, tokens: Sequence[ApiToken]) -> ApiToken | None:
    """The configured token whose digest matches, comparing against every digest in constant time."""
    index = _match_digest(token, tuple(t.sha256 for t in tokens))
    return None if index is None else tokens[index]


def _match_digest(token: str | None, digests: tuple[str, ...]) -> int | None:
    if not token:
        return None
    candidate = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest().encode()
    found: int | None = None
    for index, digest in enumerate(digests):
        if (
            hmac.compare_digest(candidate, digest.strip().lower().encode("ascii", "replace"))
            and found is None
        ):
            found = index
    return found


def bearer_token(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def identify_bearer(settings: Settings, authorization: str | None) -> Principal | None:
    """The named token an ``Authorization: Bearer`` header proves, or None."""
    token = match_api_token(bearer_token(authorization), settings.accepted_api_tokens)
    return None if token is None else token_principal(token.name, token.role)


def identify_task(settings: Settings, header: str | None) -> Principal | None:
    """The task credential an ``X-Task-Token`` header proves, or None."""
    return TASK_PRINCIPAL if is_token_accepted(header, settings.task_token_sha256) else None


def access_of_request() -> Access:
    """The matched route's declared access; for unmatched paths, what their prefix requires."""
    view = current_app.view_functions.get(request.endpoint or "")
    declared = declared_access(view)
    if declared is not None:
        return declared
    for prefix, access in PREFIX_ACCESS:
        if request.path.startswith(prefix):
            return UNDECLARED if view is not None else access
    return PUBLIC


def _authorize() -> None:
    settings: Settings = current_app.config["EVENTPULSE_SETTINGS"]
    if settings.auth_disabled:
        g.principal = LOCAL_DEV
        return
    access = access_of_request()
    if access.public:
        return
    bearer = identify_bearer(settings, request.headers.get("Authorization")) if access.takes_bearer else None
    task = identify_task(settings, request.headers.get("X-Task-Token")) if access.task_token else None
    if access.device:
        g.principal = _authenticate_device(settings)
        return
    decision = decide_access(access, bearer=bearer, task=task)
    if decision == "unauthenticated":
        raise _unauthenticated(access)
    if decision == "forbidden" and bearer is not None:
        raise _forbidden(access, bearer)
    is_bearer_enough = bearer is not None and access.role is not None and has_role(bearer, access.role)
    g.principal = bearer if is_bearer_enough else task


DEVICE_HINT = (
    "send X-Device-Id and X-Device-Token (or 'Authorization: Bearer <device token>'); "
    "a device gets its token from POST /api/edge/enroll"
)


def _authenticate_device(settings: Settings) -> Principal:
    """Prove a device credential, refuse a revoked device (403), and record that it was heard.

    The presented token is hashed with the pepper and looked up by hash; the stored hash is then
    compared in constant time, and a named ``X-Device-Id`` must be the device the token belongs to.
    An API bearer token is simply not found here, so it gets the same 401 as a wrong device token.
    """
    from eventpulse.api.context import current_services
    from eventpulse.devices.tokens import hashes_match, token_hash

    pepper = settings.device_token_pepper
    if not pepper:
        raise NotConfigured(
            "device authentication is not configured on this server",
            hint="set EVENTPULSE_DEVICE_TOKEN_PEPPER to a long random secret (e.g. `openssl rand -hex 32`)",
        )
    claimed_id = request.headers.get("X-Device-Id")
    token = request.headers.get("X-Device-Token") or bearer_token(request.headers.get("Authorization"))
    if not token:
        raise Unauthorized("a device credential is required", hint=DEVICE_HINT)
    presented = token_hash(pepper, token)
    services = current_services()
    registry = services.devices
    device = registry.find_by_token_hash(presented)
    if device is None or not hashes_match(device.token_hash, presented):
        raise Unauthorized("the device token is not valid", hint=DEVICE_HINT)
    if claimed_id is not None and claimed_id != device.device_id:
        raise Unauthorized("the device token does not belong to X-Device-Id", hint=DEVICE_HINT)
    if device.status == "revoked":
        raise Forbidden(
            "device revoked",
            hint="an admin revoked this device; re-enrolment is refused until it is deleted",
            details={"device_id": device.device_id},
        )
    now = services.clock.now()
    seen = device.last_seen_at
    if seen is None or (now - seen).total_seconds() >= settings.device_seen_resolution_seconds:
        registry.touch(device.device_id, at=now)
    principal = device_principal(device.device_id)
    g.device = device
    return principal


def current_device() -> Device | None:
    """The authenticated ``Device`` of this request (device routes only), else None."""
    device: Device | None = g.get("device")
    return device


def calling_device() -> Device:
    """The device that authenticated this request; a device route's view may rely on it."""
    device = current_device()
    if device is None:  # DEVICE access sets it before the view runs
        raise Unauthorized("a device credential is required", hint=DEVICE_HINT)
    return device


def _unauthenticated(access: Access) -> Unauthorized:
    if not access.takes_bearer:
        return Unauthorized(
            "this internal endpoint needs a valid X-Task-Token header",
            hint="send the task token whose sha256 is in EVENTPULSE_TASK_TOKEN_SHA256 in X-Task-Token",
        )
    task_hint = " or the task token in X-Task-Token" if access.task_token else ""
    return Unauthorized(
        "a valid API token is required",
        hint=f"send 'Authorization: Bearer <token>' (a token of EVENTPULSE_API_TOKENS){task_hint}; "
        "locally `eventpulse serve` writes one to <data_dir>/secrets/api_token",
    )


def _forbidden(access: Access, bearer: Principal) -> Forbidden:
    return Forbidden(
        f"this endpoint needs the {access.role} role; {bearer.actor} has the {bearer.role} role",
        hint=f"use a token with the {access.role} role or higher (viewer < operator < admin)",
        details={"required_role": access.role, "token_role": bearer.role},
    )


def install(app: Flask, settings: Settings) -> None:
    """Check credentials before every request, unknown guarded paths too (401 before 404)."""
    if settings.auth_disabled:
        log.warning("authentication is DISABLED (EVENTPULSE_AUTH_DISABLED): every endpoint is open")
    app.before_request(_authorize)


def current_principal() -> Principal | None:
    principal: Principal | None = g.get("principal")
    return principal


def current_actor() -> str:
    """The caller's audit name: ``token:<name>``, ``task`` or ``local-dev``."""
    principal = current_principal()
    return principal.actor if principal is not None else "anonymous"

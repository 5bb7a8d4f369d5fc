"""Who may call what: the roles, each route's access rule, and the decision (pure; no Flask here).

- ``viewer``: every read.
- ``operator``: viewer + upload/ingest, replay one ingestion, approve/reject a quarantined one, demo seeding.
- ``admin``: operator + retention (prune), replay of a range, reclaim, and every future change of
  contracts, devices or retention.
- a device token (``X-Device-Id`` + ``X-Device-Token``, or a bearer device token) opens the
  ``/api/edge`` routes only; it is never an API token, and an API token never opens a device route.
- the task token (``X-Task-Token``) is the dispatcher's machine credential, not a role: it opens the
  internal routes only. ``/internal/admin/*`` takes it or an admin bearer token.

Each route declares one ``Access`` (``api/operations.py``); ``decide_access`` is the whole policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eventpulse.settings import TOKEN_ROLES, TokenRole

ROLE_RANK: dict[TokenRole, int] = {"viewer": 1, "operator": 2, "admin": 3}
assert tuple(ROLE_RANK) == TOKEN_ROLES, "every token role needs a rank"

Decision = Literal["allow", "unauthenticated", "forbidden"]


@dataclass(frozen=True)
class Access:
    """What a route accepts: a bearer token of at least ``role``, the task token, or anyone (public)."""

    role: TokenRole | None = None
    task_token: bool = False
    public: bool = False
    device: bool = False
    """The route takes a device credential only (issue 8): no API token, no task token."""

    @property
    def label(self) -> str:
        """``public``, ``viewer``, ``operator``, ``admin`` or ``task`` (the ``x-required-role`` value)."""
        if self.public:
            return "public"
        if self.device:
            return "device"
        return self.role or "task"

    @property
    def takes_bearer(self) -> bool:
        return self.role is not None

    @property
    def can_forbid(self) -> bool:
        """True when a valid bearer token may still be refused (403) for its role."""
        return self.role is not None and ROLE_RANK[self.role] > ROLE_RANK["viewer"]


PUBLIC = Access(public=True)
VIEWER = Access(role="viewer")
OPERATOR = Access(role="operator")
ADMIN = Access(role="admin")
TASK = Access(task_token=True)
ADMIN_OR_TASK = Access(role="admin", task_token=True)
DEVICE = Access(device=True)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a named bearer token with its role, or the task credential."""

    actor: str
    """How the audit log and ``created_by`` name the caller (never the token itself)."""
    role: TokenRole | None = None
    is_task: bool = False
    device_id: str | None = None
    """Set for an enrolled device's credential (``actor`` is then ``device:<id>``)."""


def token_principal(name: str, role: TokenRole) -> Principal:
    return Principal(actor=f"token:{name}", role=role)


def device_principal(device_id: str) -> Principal:
    """A device holds no role: only ``DEVICE`` routes accept it."""
    return Principal(actor=f"device:{device_id}", device_id=device_id)


TASK_PRINCIPAL = Principal(actor="task", is_task=True)
LOCAL_DEV = Principal(actor="local-dev", role="admin", is_task=True)
"""Everyone, when authentication is disabled (local development only)."""


def has_role(principal: Principal, needed: TokenRole) -> bool:
    return principal.role is not None and ROLE_RANK[principal.role] >= ROLE_RANK[needed]


def decide_access(
    access: Access,
    *,
    bearer: Principal | None,
    task: Principal | None,
    device: Principal | None = None,
) -> Decision:
    """Allow, or say why not: no accepted credential (401) or a bearer role too low (403).

    ``bearer`` and ``task`` are the callers the request's credentials proved (None when absent or wrong).
    A credential of a kind the route does not take counts as absent, so a device token on an API
    route and an API token on a device route are both 401 (neither is the other kind of token).
    """
    if access.public:
        return "allow"
    if access.device:
        return "allow" if device is not None and device.device_id is not None else "unauthenticated"
    if bearer is not None and bearer.device_id is not None:
        bearer = None
    if access.task_token and task is not None:
        return "allow"
    if access.role is None or bearer is None:
        return "unauthenticated"
    return "allow" if has_role(bearer, access.role) else "forbidden"

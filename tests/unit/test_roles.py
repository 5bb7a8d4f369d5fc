"""The access policy (api/roles.py) decided on its own: roles, the task credential, public routes."""

from __future__ import annotations

import pytest

from eventpulse.api.roles import (
    ADMIN,
    ADMIN_OR_TASK,
    DEVICE,
    OPERATOR,
    PUBLIC,
    TASK,
    TASK_PRINCIPAL,
    VIEWER,
    decide_access,
    device_principal,
    token_principal,
)

VIEWER_T = token_principal("val", "viewer")
OPERATOR_T = token_principal("ops", "operator")
ADMIN_T = token_principal("root", "admin")


@pytest.mark.parametrize(
    "access, bearer, expected",
    [
        (VIEWER, VIEWER_T, "allow"),
        (OPERATOR, VIEWER_T, "forbidden"),
        (OPERATOR, OPERATOR_T, "allow"),
        (OPERATOR, ADMIN_T, "allow"),
        (ADMIN, OPERATOR_T, "forbidden"),
        (ADMIN, ADMIN_T, "allow"),
        (VIEWER, None, "unauthenticated"),
        (TASK, ADMIN_T, "unauthenticated"),
        (ADMIN_OR_TASK, OPERATOR_T, "forbidden"),
        (ADMIN_OR_TASK, ADMIN_T, "allow"),
        (PUBLIC, None, "allow"),
    ],
)
def test_a_bearer_token_passes_only_at_or_above_the_routes_role(access, bearer, expected) -> None:
    assert decide_access(access, bearer=bearer, task=None) == expected


def test_the_task_credential_opens_internal_routes_and_nothing_else() -> None:
    assert decide_access(TASK, bearer=None, task=TASK_PRINCIPAL) == "allow"
    assert decide_access(ADMIN_OR_TASK, bearer=VIEWER_T, task=TASK_PRINCIPAL) == "allow"
    assert decide_access(VIEWER, bearer=None, task=TASK_PRINCIPAL) == "unauthenticated"


def test_actors_name_the_token_never_the_secret() -> None:
    assert ADMIN_T.actor == "token:root" and TASK_PRINCIPAL.actor == "task"
    assert ADMIN.label == "admin" and TASK.label == "task" and PUBLIC.label == "public"
    assert ADMIN_OR_TASK.label == "admin" and ADMIN_OR_TASK.task_token
    assert not VIEWER.can_forbid and OPERATOR.can_forbid


DEVICE_P = device_principal("pump-7")


def test_a_device_credential_opens_device_routes_only() -> None:
    assert decide_access(DEVICE, bearer=None, task=None, device=DEVICE_P) == "allow"
    assert decide_access(DEVICE, bearer=None, task=None, device=None) == "unauthenticated"
    assert DEVICE_P.actor == "device:pump-7" and DEVICE.label == "device"


@pytest.mark.parametrize("access", [VIEWER, OPERATOR, ADMIN, ADMIN_OR_TASK, TASK])
def test_a_device_token_is_not_an_api_token(access) -> None:
    assert decide_access(access, bearer=None, task=None, device=DEVICE_P) == "unauthenticated"
    assert decide_access(access, bearer=DEVICE_P, task=None) == "unauthenticated"


@pytest.mark.parametrize("bearer", [VIEWER_T, ADMIN_T])
def test_an_api_or_task_token_does_not_open_a_device_route(bearer) -> None:
    assert decide_access(DEVICE, bearer=bearer, task=TASK_PRINCIPAL, device=None) == "unauthenticated"

"""The command channel's rules: which kinds exist, their parameters, and the life of one command.

    queued ──deliver──▶ delivered ──ack ok──▶ succeeded
       │                    │ └────ack error─▶ failed
       │                    └──past expiry──▶ expired
       ├──past expiry──▶ expired
       └──admin cancel─▶ cancelled

A device fetches its commands on its next contact (``GET /api/edge/commands``); a delivered command
that is not acknowledged is handed out again on the next fetch, so a device that crashed mid-command
runs it again: commands must be safe to repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, get_args

from eventpulse.ports.devices import CommandKind, CommandStatus

COMMAND_KINDS: tuple[str, ...] = get_args(CommandKind)
FINAL: frozenset[CommandStatus] = frozenset({"succeeded", "failed", "expired", "cancelled"})
ACKABLE: tuple[CommandStatus, ...] = ("delivered", "queued")
"""A device may acknowledge a command it was handed (or that was handed out as it was queued)."""
CANCELLABLE: tuple[CommandStatus, ...] = ("queued", "delivered")
MIN_SAMPLING_SECONDS = 1
MAX_SAMPLING_SECONDS = 86_400
MAX_LOG_LINES = 10_000
MAX_TTL_SECONDS = 30 * 86_400


class CommandError(ValueError):
    """A command or its parameters are not valid; the message names what to change."""


def validate_command(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The command's parameters, checked and normalized; CommandError names the offending one."""
    given = dict(params or {})
    if kind not in COMMAND_KINDS:
        raise CommandError(f"unknown command {kind!r}; commands: {', '.join(COMMAND_KINDS)}")
    if kind == "set_sampling_interval":
        seconds = given.pop("seconds", None)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise CommandError("set_sampling_interval needs params.seconds, a number of seconds")
        if not MIN_SAMPLING_SECONDS <= seconds <= MAX_SAMPLING_SECONDS:
            raise CommandError(
                f"params.seconds must be between {MIN_SAMPLING_SECONDS} and {MAX_SAMPLING_SECONDS}"
            )
        _no_more(kind, given)
        return {"seconds": seconds}
    if kind == "upload_logs":
        lines = given.pop("lines", 500)
        if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LOG_LINES:
            raise CommandError(f"params.lines must be a whole number between 1 and {MAX_LOG_LINES}")
        _no_more(kind, given)
        return {"lines": lines}
    if kind == "update_agent":
        version = given.pop("version", None)
        if not isinstance(version, str) or not version.strip() or len(version) > 64:
            raise CommandError("update_agent needs params.version, the agent version to install")
        _no_more(kind, given)
        return {"version": version.strip()}
    _no_more(kind, given)
    return {}


def _no_more(kind: str, rest: Mapping[str, Any]) -> None:
    if rest:
        raise CommandError(f"{kind} takes no parameter {sorted(rest)[0]!r}")


def expiry(now: datetime, ttl_seconds: float) -> datetime:
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise CommandError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
    return now + timedelta(seconds=ttl_seconds)


def ack_status(ok: bool) -> CommandStatus:
    return "succeeded" if ok else "failed"


def is_final(status: CommandStatus) -> bool:
    return status in FINAL

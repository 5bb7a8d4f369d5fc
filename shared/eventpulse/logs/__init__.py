"""Structured logs: Cloud Logging JSON (or text at a terminal), with context fields on every line.

Modules keep ``log = logging.getLogger(__name__)``; a process entry calls ``configure_logging`` once,
and the code that owns a unit of work binds its fields (``log_context``, ``bind_context``). See
docs/OBSERVABILITY.md for what a line looks like.
"""

from eventpulse.logs.context import (
    bind_context,
    carry_log_context,
    close_scope,
    current_fields,
    log_context,
    log_scope,
    open_scope,
)
from eventpulse.logs.setup import LOG_FORMATS, LOG_LEVELS, LogFormat, configure_logging, is_logging_configured

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LogFormat",
    "bind_context",
    "carry_log_context",
    "close_scope",
    "configure_logging",
    "current_fields",
    "is_logging_configured",
    "log_context",
    "log_scope",
    "open_scope",
]

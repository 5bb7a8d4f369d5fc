"""The Clock port's behaviour: aware UTC instants that never run backwards between two calls."""

from __future__ import annotations

from datetime import UTC, timedelta

from eventpulse.adapters.clock import SystemClock


def test_system_clock_gives_aware_utc_instants_in_order() -> None:
    clock = SystemClock()
    first, second = clock.now(), clock.now()
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
    assert first.astimezone(UTC) <= second

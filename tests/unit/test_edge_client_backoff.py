"""Backoff: full jitter between 0 and an exponential ceiling that never passes the cap."""

from __future__ import annotations

import pytest

from eventpulse_edge.backoff import Backoff


def test_ceiling_doubles_from_base_then_stays_at_cap() -> None:
    backoff = Backoff(base=2.0, cap=60.0, rand=lambda: 1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_full_jitter_draws_from_zero_to_the_ceiling() -> None:
    low = Backoff(base=1.0, cap=10.0, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    half = Backoff(base=1.0, cap=10.0, rand=lambda: 0.5)
    assert [half.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]


def test_real_random_delays_stay_within_bounds_even_after_a_long_outage() -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    for attempt in range(500):
        ceiling = min(30.0, 0.5 * 2 ** min(attempt, 62))
        delay = backoff.next_delay()
        assert 0.0 <= delay <= ceiling
    assert backoff.ceiling() == 30.0


def test_reset_starts_again_from_the_base() -> None:
    backoff = Backoff(base=1.0, cap=100.0, rand=lambda: 1.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (5.0, 1.0)])
def test_nonsense_bounds_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        Backoff(base=base, cap=cap)

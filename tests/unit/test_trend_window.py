"""TrendWindow's bucket starts: the calendar the trends API lays each series' points on."""

from __future__ import annotations

from datetime import UTC, datetime

from eventpulse.ports import TrendWindow


def test_week_starts_begin_on_the_monday_before_since() -> None:
    window = TrendWindow(
        since=datetime(2026, 11, 4, 10, tzinfo=UTC), until=datetime(2026, 11, 16, tzinfo=UTC), bucket="week"
    )
    assert window.bucket_starts() == [datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC)]


def test_hour_starts_cover_a_partial_first_and_last_hour() -> None:
    window = TrendWindow(
        since=datetime(2026, 11, 9, 0, 30, tzinfo=UTC),
        until=datetime(2026, 11, 9, 2, 1, tzinfo=UTC),
        bucket="hour",
    )
    starts = window.bucket_starts()
    assert [s.hour for s in starts] == [0, 1, 2]
    assert len(starts) == window.bucket_count()

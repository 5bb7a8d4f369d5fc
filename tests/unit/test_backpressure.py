"""The intake's shed decision and its cached backlog count (landing/backpressure.py, pure parts)."""

from __future__ import annotations

from eventpulse.landing.backpressure import Backlog, BacklogGauge, decide_shed, describe_backlog
from eventpulse.settings import Settings

SETTINGS = Settings(intake_max_waiting=10, intake_max_waiting_per_source=4, intake_retry_after_seconds=7)


def _backlog(**waiting: int) -> Backlog:
    return Backlog(
        {
            s.replace("_", ":"): {"RECEIVED": n - n // 2, "FAILED_EXCEPTION": n // 2}
            for s, n in waiting.items()
        }
    )


def test_a_file_is_accepted_below_both_limits() -> None:
    assert decide_shed(_backlog(api=3, device_a=3), "api", SETTINGS) is None


def test_a_source_at_its_limit_is_shed_and_the_others_are_not() -> None:
    backlog = _backlog(device_a=4, api=1)
    refusal = decide_shed(backlog, "device:a", SETTINGS)
    assert refusal is not None and refusal.http_status == 429 and refusal.retry_after_seconds == 7
    assert refusal.details["limit"] == "intake_max_waiting_per_source"
    assert decide_shed(backlog, "api", SETTINGS) is None


def test_everyone_is_shed_at_the_total_limit() -> None:
    refusal = decide_shed(_backlog(a=3, b=3, c=4), "newcomer", SETTINGS)
    assert refusal is not None and refusal.details["limit"] == "intake_max_waiting"
    assert "10 ingestions wait" in refusal.message


def test_zero_turns_a_limit_off() -> None:
    off = SETTINGS.with_overrides(intake_max_waiting=0, intake_max_waiting_per_source=0)
    assert decide_shed(_backlog(api=10_000), "api", off) is None
    assert describe_backlog(_backlog(api=10_000), off)["shedding"] is False


def test_processing_ingestions_do_not_count_as_waiting() -> None:
    backlog = Backlog({"api": {"PROCESSING": 50, "RECEIVED": 1}})
    assert (backlog.waiting(), backlog.processing) == (1, 50)
    assert decide_shed(backlog, "api", SETTINGS) is None


def test_the_gauge_counts_once_per_interval() -> None:
    now = [100.0]
    calls: list[float] = []

    def count() -> dict[str, dict[str, int]]:
        calls.append(now[0])
        return {"api": {"RECEIVED": len(calls)}}

    gauge = BacklogGauge(count, ttl=1.0, clock=lambda: now[0])
    assert [gauge.read().waiting() for _ in range(50)] == [1] * 50
    now[0] += 0.99
    assert gauge.read().waiting() == 1
    now[0] += 0.01
    assert gauge.read().waiting() == 2 and calls == [100.0, 101.0]


def test_a_backlog_that_cannot_be_counted_sheds_nothing_and_is_retried_after_the_interval() -> None:
    now = [0.0]
    calls = []

    def count() -> dict[str, dict[str, int]]:
        calls.append(now[0])
        raise ConnectionRefusedError("database down")

    gauge = BacklogGauge(count, ttl=1.0, clock=lambda: now[0])
    assert gauge.read().waiting() == 0 and gauge.read().waiting() == 0
    now[0] = 1.0
    gauge.read()
    assert calls == [0.0, 1.0]
    assert decide_shed(gauge.read(), "api", SETTINGS) is None

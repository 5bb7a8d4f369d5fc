"""Which errors mean the database went away, and the bounded wait for it (pure logic, no server)."""

from __future__ import annotations

import pg8000.exceptions
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from eventpulse.adapters.postgres.outage import connection_lost
from eventpulse.errors import LoadRefused
from eventpulse.pipeline.outage import wait_for_store


def pg_error(code: str) -> pg8000.exceptions.DatabaseError:
    return pg8000.exceptions.DatabaseError({"S": "FATAL", "C": code, "M": "x"})


@pytest.mark.parametrize(
    "exc",
    [
        pg8000.exceptions.InterfaceError("network error"),
        ConnectionResetError(104, "reset"),
        pg_error("57P01"),  # terminating connection due to administrator command
        pg_error("08006"),
        OperationalError("SELECT 1", {}, pg8000.exceptions.InterfaceError("network error")),
    ],
    ids=["interface", "reset", "admin-shutdown", "connection-failure", "wrapped"],
)
def test_errors_of_a_lost_connection_are_recognised(exc: BaseException) -> None:
    assert connection_lost(exc)


def test_a_lost_connection_is_found_under_the_error_raised_from_it() -> None:
    try:
        try:
            raise pg_error("57P01")
        except pg8000.exceptions.DatabaseError as inner:
            raise LoadRefused("the database refused the load") from inner
    except LoadRefused as outer:
        assert connection_lost(outer)


@pytest.mark.parametrize(
    "exc",
    [
        pg_error("23505"),  # unique violation: the data, not the connection
        pg_error("54011"),
        IntegrityError("INSERT", {}, pg_error("23505")),
        ValueError("bad value"),
        OSError(28, "No space left on device"),
    ],
    ids=["unique", "too-many-columns", "integrity", "value", "disk-full"],
)
def test_other_errors_are_not_a_lost_connection(exc: BaseException) -> None:
    assert not connection_lost(exc)


def test_an_invalidated_connection_counts_whatever_its_code() -> None:
    exc = DBAPIError("COPY", {}, pg8000.exceptions.DatabaseError({"C": "XX000"}), connection_invalidated=True)
    assert connection_lost(exc)


class Store:
    """A store that answers after ``down`` failed probes."""

    def __init__(self, down: int):
        self.down = down
        self.probes = 0

    def is_reachable(self) -> bool:
        self.probes += 1
        return self.probes > self.down


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def test_the_wait_ends_as_soon_as_the_database_answers_with_growing_pauses() -> None:
    store, clock = Store(down=5), Clock()
    assert wait_for_store(store, 60, sleep=clock.sleep, monotonic=clock.monotonic)  # type: ignore[arg-type]
    assert store.probes == 6
    assert clock.sleeps == [0.2, 0.4, 0.8, 1.6, 2.0]


def test_the_wait_gives_up_at_its_bound() -> None:
    store, clock = Store(down=10_000), Clock()
    assert not wait_for_store(store, 10, sleep=clock.sleep, monotonic=clock.monotonic)  # type: ignore[arg-type]
    assert clock.now <= 10


def test_a_zero_wait_gives_up_at_once() -> None:
    store, clock = Store(down=1), Clock()
    assert not wait_for_store(store, 0, sleep=clock.sleep, monotonic=clock.monotonic)  # type: ignore[arg-type]
    assert clock.sleeps == []

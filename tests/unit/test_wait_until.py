"""``wait_until`` polls with a deadline, says what it waited for, and notices a dead process."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until


def test_returns_the_first_truthy_value_of_the_predicate() -> None:
    answers = iter([None, 0, "", ["ready"]])

    assert wait_until(lambda: next(answers), "the list", interval=0) == ["ready"]


def test_fails_after_the_timeout_naming_what_it_waited_for_and_the_last_value() -> None:
    calls = itertools.count()
    started = time.monotonic()

    with pytest.raises(pytest.fail.Exception) as failure:
        wait_until(lambda: next(calls) < 0, "the counter to go negative", timeout=0.2, interval=0.01)

    assert 0.2 <= time.monotonic() - started < 5
    expected = "timed out after 0.2s waiting for the counter to go negative; last value: False"
    assert expected in str(failure.value)
    assert next(calls) > 2  # it kept polling until the deadline


def test_describe_replaces_the_last_value_in_the_message() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"waiting for rows; state: \['RECEIVED'\]"):
        wait_until(lambda: None, "rows", timeout=0.05, interval=0.01, describe=lambda: ["RECEIVED"])


def test_fails_at_once_when_the_watched_process_exits_and_quotes_its_log(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", "print('boom: port taken'); raise SystemExit(3)"], stdout=out
        )
    child.wait(timeout=30)
    started = time.monotonic()

    with pytest.raises(pytest.fail.Exception) as failure:
        wait_until(lambda: False, "the server to answer", timeout=60, process=child, log=log)

    assert time.monotonic() - started < 5  # not the 60 s deadline
    message = str(failure.value)
    assert f"process {child.pid} (python" in message
    assert "exited with 3 while waiting for the server to answer" in message
    assert "boom: port taken" in message


def test_a_predicate_that_holds_wins_over_a_process_that_has_exited(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)

    assert wait_until(lambda: 42, "the answer", process=child) == 42

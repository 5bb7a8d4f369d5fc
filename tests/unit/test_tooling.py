"""`make lint` runs every check it promises, over the same paths."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT


def lint_commands() -> list[list[str]]:
    """The commands `make lint` would run (``make -n`` prints them without running any)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "lint"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def _command(commands: list[list[str]], *words: str) -> list[str]:
    for command in commands:
        if command[1 : 1 + len(words)] == list(words):
            return command
    raise AssertionError(f"`make lint` runs no `{' '.join(words)}`: {commands}")


def test_lint_checks_formatting_over_the_paths_it_lints() -> None:
    commands = lint_commands()
    checked = _command(commands, "check")
    formatted = _command(commands, "format", "--check")
    assert checked[0].endswith("ruff") and formatted[0].endswith("ruff")
    assert formatted[3:] == checked[2:] and {"shared", "tests", "functions", "jobs"} <= set(checked[2:])


def test_lint_runs_the_lock_check() -> None:
    assert _command(lint_commands(), "tools/locks.py", "check")

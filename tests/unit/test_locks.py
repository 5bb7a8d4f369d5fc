"""The hashed lock files match the pinned inputs, and the check notices when they stop matching."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import locks  # noqa: E402  (tools/ is not a package)

sys.path.remove(str(REPO_ROOT / "tools"))

LOCK_FILES = (
    "requirements.in",
    "requirements.txt",
    "requirements-dev.in",
    "requirements-dev.txt",
    "requirements-checkov.in",
    "requirements-checkov.txt",
    "requirements-dlt.in",
    "requirements-dlt.txt",
)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The lock inputs and outputs, copied so a test may break them."""
    for name in LOCK_FILES:
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_the_committed_locks_match_their_inputs() -> None:
    assert locks.find_problems(REPO_ROOT) == []


def test_every_locked_package_carries_hashes_and_an_exact_version() -> None:
    for name, at_least in (
        ("requirements.txt", 50),
        ("requirements-dev.txt", 50),
        ("requirements-checkov.txt", 50),
        ("requirements-dlt.txt", 30),
    ):
        pins = locks.parse_lock((REPO_ROOT / name).read_text())
        assert len(pins) > at_least, name
        assert all(pin.hashes and all(h.startswith("sha256:") for h in pin.hashes) for pin in pins.values())


def test_the_dev_lock_holds_the_packages_other_workstreams_need() -> None:
    dev = locks.parse_lock((REPO_ROOT / "requirements-dev.txt").read_text())
    assert dev["hypothesis"].version == "6.170.15"
    assert dev["schemathesis"].version == "4.32.5"
    assert dev["uv"].version and dev["pytest"].version


def test_editing_requirements_in_without_relocking_fails_the_check(repo_copy: Path) -> None:
    _replace(repo_copy / "requirements.in", "click==8.5.1", "click==8.5.0")

    problems = locks.find_problems(repo_copy)

    assert "requirements.txt was not compiled from the current requirements.in" in problems
    assert any("click==8.5.0 is pinned in the inputs but at 8.5.1 in the lock" in p for p in problems)
    # the dev lock includes requirements.in, so it is stale too
    assert any(p.startswith("requirements-dev.txt was not compiled") for p in problems)


def test_a_new_direct_dependency_missing_from_the_lock_is_named(repo_copy: Path) -> None:
    with (repo_copy / "requirements-dev.in").open("a") as f:
        f.write("pytest-randomly==4.0.1\n")

    problems = locks.find_problems(repo_copy)

    missing = "pytest-randomly==4.0.1 is pinned in the inputs but missing in the lock"
    assert any(missing in p for p in problems)


def test_a_comment_edit_in_an_input_needs_no_new_lock(repo_copy: Path) -> None:
    with (repo_copy / "requirements.in").open("a") as f:
        f.write("# a note for the next reader\n")
    assert locks.find_problems(repo_copy) == []


def test_an_unpinned_direct_dependency_is_refused(repo_copy: Path) -> None:
    _replace(repo_copy / "requirements-dev.in", "ruff==0.17.6", "ruff>=0.17")

    problems = locks.find_problems(repo_copy)

    assert any("`ruff>=0.17` is not an exact pin" in p for p in problems)


def test_a_hand_edited_lock_line_without_hashes_is_reported(repo_copy: Path) -> None:
    lock = repo_copy / "requirements.txt"
    lines = lock.read_text().splitlines()
    start = lines.index("alembic==1.20.1 \\")
    end = start + 1
    while lines[end].lstrip().startswith("--hash="):
        end += 1
    lock.write_text("\n".join([*lines[:start], "alembic==1.20.1", *lines[end:]]) + "\n")

    assert "requirements.txt: alembic has no --hash" in locks.find_problems(repo_copy)


def test_a_dev_lock_that_moves_a_runtime_package_is_reported(repo_copy: Path) -> None:
    _replace(repo_copy / "requirements-dev.txt", "\nidna==3.20 \\", "\nidna==3.19 \\")

    problems = locks.find_problems(repo_copy)

    assert "requirements-dev.txt: idna is 3.19, requirements.txt has 3.20" in problems


def test_parse_lock_reads_markers_continuations_and_hashes() -> None:
    text = (
        "# inputs-sha256: " + "0" * 64 + "\n"
        "async-timeout==5.0.1 ; python_full_version < '3.11.3' \\\n"
        "    --hash=sha256:aaa \\\n"
        "    --hash=sha256:bbb\n"
        "    # via redis\n"
        "Typing_Extensions==4.16.0 \\\n"
        "    --hash=sha256:ccc\n"
    )
    assert locks.parse_lock(text) == {
        "async-timeout": locks.Pin("5.0.1", ("sha256:aaa", "sha256:bbb")),
        "typing-extensions": locks.Pin("4.16.0", ("sha256:ccc",)),
    }
    assert locks.recorded_digest(text) == "0" * 64

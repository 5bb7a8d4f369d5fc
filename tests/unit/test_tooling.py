"""`make lint` runs every check it promises, over the paths and with the strictness it promises."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tomllib
from typing import Any

import pytest

from tests.conftest import LAYERS, REPO_ROOT, layer_of


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


def _mypy_config() -> dict[str, Any]:
    return dict(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"])


def test_mypy_checks_the_core_the_functions_and_the_jobs() -> None:
    assert {"shared/eventpulse", "functions", "jobs"} <= set(_mypy_config()["files"])


def test_mypy_is_strict_everywhere_and_no_override_loosens_it() -> None:
    from mypy.main import define_options

    config = _mypy_config()
    assert config.get("strict") is True
    _, _, strict_assignments = define_options()
    loosened = [
        (override["module"], flag)
        for override in config.get("overrides", [])
        for flag, value in strict_assignments
        if flag in override and override[flag] != value and flag != "implicit_reexport"
    ]
    assert not loosened, f"a mypy override switches off a --strict flag: {loosened}"
    for override in config.get("overrides", []):  # implicit_reexport only for third-party libraries
        if "implicit_reexport" in override:
            assert not any(m.startswith(("eventpulse", "functions", "jobs")) for m in override["module"])


@pytest.mark.parametrize(
    ("relative", "layer"),
    [
        ("tests/unit/test_docs.py", "unit"),
        ("tests/integration/test_api_read.py", "integration"),
        ("tests/e2e/test_cli.py", "e2e"),
        ("tests/helpers.py", None),
        ("tests/conftest.py", None),
    ],
)
def test_a_test_file_belongs_to_the_layer_of_its_folder(relative: str, layer: str | None) -> None:
    assert (REPO_ROOT / relative).is_file()
    assert layer_of(REPO_ROOT / relative) == layer


def test_collection_marks_each_test_with_its_layer(request: pytest.FixtureRequest) -> None:
    markers = {m.name for m in request.node.iter_markers()}
    assert "unit" in markers and not markers & {"integration", "e2e"}


def test_the_layer_markers_are_registered_for_strict_markers() -> None:
    ini = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {line.split(":", 1)[0] for line in ini["markers"]}
    assert set(LAYERS) <= registered and "--strict-markers" in ini["addopts"]

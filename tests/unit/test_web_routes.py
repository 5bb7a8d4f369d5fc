"""Every API path the dashboard's source calls is an operation of the OpenAPI document (no hidden route)."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import openapi_document  # noqa: E402  (tools/ is not a package)

sys.path.remove(str(REPO_ROOT / "tools"))

SOURCE = REPO_ROOT / "web" / "src"
GENERATED = SOURCE / "api-types.ts"
CALLED = re.compile(r"[\"`](/(?:api|internal|readyz|health)[^\"`?]*)[\"`]")
WEB_LAYER = {"/api/docs"}  # served by shared/eventpulse/api/web.py in front of the API, not an operation


@functools.cache
def documented_paths() -> tuple[str, ...]:
    return tuple(openapi_document.build_document()["paths"])


def called_paths() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(SOURCE.rglob("*.ts*")):
        if path != GENERATED:
            for match in CALLED.findall(path.read_text(encoding="utf-8")):
                found.setdefault(match, path)
    return found


def pattern_of(called: str) -> re.Pattern[str]:
    """A called path as a pattern over document paths: each ``${...}`` matches one segment."""
    parts = re.split(r"\$\{[^}]*\}", called)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


def test_the_dashboard_calls_api_paths() -> None:
    paths = called_paths()
    assert "/api/ingestions" in paths and any("${" in p for p in paths), sorted(paths)


@pytest.mark.parametrize("called", sorted(called_paths()))
def test_every_path_the_dashboard_calls_is_documented(called: str) -> None:
    if called in WEB_LAYER:
        return
    pattern = pattern_of(called)
    assert any(pattern.match(p) for p in documented_paths()), (
        f"web/src calls {called} ({called_paths()[called].relative_to(REPO_ROOT)}), which is not in "
        "/api/openapi.json: declare the route with its models (api/operations.py) or call a documented one"
    )

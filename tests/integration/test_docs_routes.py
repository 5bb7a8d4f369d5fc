"""Every HTTP route of the real app is in docs/API.md's endpoint table, and the table has no stale rows."""

from __future__ import annotations

import re

from eventpulse.api.app import create_app
from tests.conftest import REPO_ROOT

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
TABLE_ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`\s*\|", re.MULTILINE)


def documented_routes() -> set[tuple[str, str]]:
    text = (REPO_ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    return {(method, path) for method, path in TABLE_ROW.findall(text)}


def app_routes(services) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    app = create_app(services)
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS)
    }


def test_every_route_is_in_the_api_doc(services) -> None:  # type: ignore[no-untyped-def]
    missing = sorted(app_routes(services) - documented_routes())
    assert not missing, (
        f"routes missing from the endpoint table of docs/API.md: {missing} "
        "(add a row `| METHOD | `path` | auth |` and a section)"
    )


def test_api_doc_lists_no_route_that_does_not_exist(services) -> None:  # type: ignore[no-untyped-def]
    stale = sorted(documented_routes() - app_routes(services))
    assert not stale, f"docs/API.md documents routes the app does not serve: {stale}"

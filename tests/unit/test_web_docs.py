"""The dashboard's docs are in step with it: every page is in UI_GUIDE.md, every tour image exists."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT

MAIN = (REPO_ROOT / "web" / "src" / "main.tsx").read_text(encoding="utf-8")
PAGES = re.findall(r'\{ path: "([a-z]*)", title: "([A-Za-z]+)"', MAIN)


def test_the_page_list_is_found() -> None:
    assert ("ingestions", "Ingestions") in PAGES and len(PAGES) >= 9, PAGES


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_every_page_is_in_the_ui_guide(path: str, title: str) -> None:
    guide = (REPO_ROOT / "docs" / "UI_GUIDE.md").read_text(encoding="utf-8")
    assert f"| {title} (`#/{path}`)" in guide, f"docs/UI_GUIDE.md has no row for the {title} page (#/{path})"


def test_every_image_of_the_quick_tour_exists() -> None:
    tour = (REPO_ROOT / "docs" / "QUICK_TOUR.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", tour)
    assert images, "docs/QUICK_TOUR.md shows no screenshot"
    missing = [i for i in images if not (REPO_ROOT / "docs" / i).is_file()]
    assert not missing, f"docs/QUICK_TOUR.md shows missing images {missing}: run `make screenshots`"

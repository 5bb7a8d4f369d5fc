"""The docs are tested (like Datasette's test_docs.py).

Settings, statuses, CLI commands and Makefile targets must each appear in the page that documents
them, and those tables list nothing stale. HTTP routes: tests/integration/test_docs_routes.py.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from eventpulse.cli import main as cli_main
from eventpulse.settings import PREFIX, Settings
from eventpulse.states import Status

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def read_doc(relative: str) -> str:
    return (REPO_ROOT / relative).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next ``## ``)."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table_rows(text: str) -> dict[str, str]:
    """Markdown table rows keyed by their first cell's code span (`name` -> whole line)."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        found = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if found:
            rows.setdefault(found.group(1), line)
    return rows


def makefile_help_targets() -> list[str]:
    """The targets ``make help`` prints (it needs no virtualenv)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    targets = [ANSI.sub("", line).split()[0] for line in out.splitlines() if line.strip()]
    assert targets, f"`make help` printed no targets:\n{out}"
    return targets


def cli_command_paths(group: click.Group, prefix: str = "eventpulse") -> list[str]:
    """Every leaf command of the CLI, as typed: ``eventpulse ingestions list``."""
    paths: list[str] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(cli_command_paths(command, f"{prefix} {name}"))
        else:
            paths.append(f"{prefix} {name}")
    return paths


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Settings)])
def test_every_setting_is_documented_with_its_environment_variable(field: str) -> None:
    rows = table_rows(section(read_doc("docs/SETTINGS.md"), "Fields"))
    assert field in rows, f"Settings.{field} has no row in docs/SETTINGS.md"
    variable = f"`{PREFIX}{field.upper()}`"
    assert variable in rows[field], f"docs/SETTINGS.md row for {field!r} does not name {variable}"


def test_settings_doc_lists_no_field_that_does_not_exist() -> None:
    names = {f.name for f in dataclasses.fields(Settings)}
    documented = set(table_rows(section(read_doc("docs/SETTINGS.md"), "Fields")))
    stale = sorted(documented - names)
    assert not stale, f"docs/SETTINGS.md documents settings that do not exist: {stale}"


@pytest.mark.parametrize("status", [s.value for s in Status])
def test_every_status_is_documented(status: str) -> None:
    rows = table_rows(section(read_doc("docs/STATES.md"), "Statuses"))
    assert status in rows, f"status {status} has no row in the statuses table of docs/STATES.md"


def test_states_doc_lists_no_status_that_does_not_exist() -> None:
    documented = set(table_rows(section(read_doc("docs/STATES.md"), "Statuses")))
    stale = sorted(documented - {s.value for s in Status})
    assert not stale, f"docs/STATES.md documents statuses that do not exist: {stale}"


def test_every_make_help_target_is_documented() -> None:
    text = read_doc("README.md") + read_doc("docs/LOCAL_DEV.md")
    missing = [t for t in makefile_help_targets() if not re.search(rf"\bmake {re.escape(t)}(?![\w.-])", text)]
    assert not missing, f"`make help` targets missing from README.md and docs/LOCAL_DEV.md: {missing}"


def test_every_cli_command_is_documented() -> None:
    text = read_doc("docs/LOCAL_DEV.md")
    missing = [p for p in cli_command_paths(cli_main) if not re.search(rf"{re.escape(p)}(?![\w-])", text)]
    assert not missing, f"CLI commands missing from docs/LOCAL_DEV.md: {missing}"


# --- edge docs: relative links and their anchors resolve (issue 8) ----------------------------------

EDGE_DOCS = [
    "README.md",
    "RUNBOOK.md",
    "docs/EDGE_RPI.md",
    "docs/FIELD_OPS.md",
    "docs/HARDWARE.md",
    "docs/RUNBOOKS/EDGE_DEVICES.md",
    # the operator docs (issue 11); what they name is checked in tests/unit/test_operator_docs.py
    "docs/DEPLOY_GCP.md",
    "docs/OBSERVABILITY.md",
    "docs/MAINTENANCE.md",
    "docs/DRIFT_DETECTION.md",
    "docs/RUNBOOKS/INCIDENT.md",
    "docs/RUNBOOKS/INGESTION.md",
    "docs/RUNBOOKS/RELEASE.md",
    "infra/terraform/README.md",
]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in text.splitlines():
        found = re.match(r"^#{1,6}\s+(.*)$", line)
        if found:
            title = re.sub(r"[^\w\- ]", "", found.group(1).strip().lower().replace("`", ""))
            anchors.add(title.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("doc", EDGE_DOCS)
def test_edge_docs_links_point_at_files_and_headings_that_exist(doc: str) -> None:
    source = REPO_ROOT / doc
    broken = []
    for target in MARKDOWN_LINK.findall(source.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, file:, mailto:
        path_part, _, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else source
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif (
            anchor
            and path.suffix == ".md"
            and anchor not in heading_anchors(path.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target} (no heading #{anchor} in {path.relative_to(REPO_ROOT)})")
    assert not broken, f"{doc} has broken links: {broken}"

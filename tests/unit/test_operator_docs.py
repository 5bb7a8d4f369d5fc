"""The operator docs name only settings, routes, Make targets and CLI commands that exist, every deploy
target and maintenance command is documented, and their tables agree with the Terraform.

Names are read from code spans and code blocks (prose may say "make sure"). Routes are checked
against docs/API.md's endpoint table, which tests/integration/test_docs_routes.py keeps equal to the
app's routes.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
import pytest

from eventpulse.cli import main as cli_main
from eventpulse.settings import PREFIX, Settings
from infra import gcp
from tests.conftest import REPO_ROOT
from tests.unit.terraform_support import TERRAFORM, load_tree

OPERATOR_DOCS = [
    "docs/DEPLOY_GCP.md",
    "docs/OBSERVABILITY.md",
    "docs/MAINTENANCE.md",
    "docs/DRIFT_DETECTION.md",
    "RUNBOOK.md",
    "infra/terraform/README.md",
    *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs" / "RUNBOOKS").glob("*.md")),
]
FIELDS = {f.name.upper() for f in dataclasses.fields(Settings)}
API_ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`\s*\|", re.MULTILINE)


def read(relative: str) -> str:
    return (REPO_ROOT / relative).read_text(encoding="utf-8")


def code_of(text: str) -> str:
    """The code blocks and code spans of a Markdown page, one per line."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return "\n".join([*blocks, *re.findall(r"`([^`\n]+)`", prose)])


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z0-9_.-]+):", read("Makefile"), re.MULTILINE)) - {".PHONY"}


def cli_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], bool]:
    """``{command path: is a group}`` of the whole CLI."""
    paths: dict[tuple[str, ...], bool] = {}
    for name, command in group.commands.items():
        path = (*prefix, name)
        paths[path] = isinstance(command, click.Group)
        if isinstance(command, click.Group):
            paths.update(cli_paths(command, path))
    return paths


def segments(path: str) -> list[str]:
    path = path.split("?", 1)[0].rstrip("/.,;:") or "/"
    return ["<>" if re.fullmatch(r"<[^>]*>", s) else s for s in path.strip("/").split("/")]


def api_routes() -> list[list[str]]:
    """The API's routes (docs/API.md's table) and the pages the dashboard layer serves (api/web.py)."""
    from eventpulse.api.web import API_DOCS_PATHS

    documented = [path for _method, path in API_ROW.findall(read("docs/API.md"))]
    return [segments(path) for path in [*documented, *API_DOCS_PATHS]]


def is_route(path: str, routes: list[list[str]]) -> bool:
    wanted = segments(path)
    wildcard = wanted[-1] == "*"
    for route in routes:
        if wildcard and route[: len(wanted) - 1] == wanted[:-1]:
            return True
        if len(route) == len(wanted) and all(
            w in (r, "<>") or r == "<>" for w, r in zip(wanted, route, strict=True)
        ):
            return True
    return False


ROUTE = re.compile(r"(?<![\w.:/-])(/(?:api|internal)(?:/[\w<>.*-]+)*|/health\b|/readyz\b)")
MAKE = re.compile(r"\bmake ([a-z][\w-]*)")
CLI = re.compile(
    r"(?<![\w.-])eventpulse((?:[ \t]+-{1,2}[a-z][\w-]*)*)[ \t]+([a-z][\w-]*)(?:[ \t]+([a-z][\w-]*))?"
)


def names_in(doc: str) -> dict[str, list[str]]:
    """What a doc names: settings (anywhere), and Make targets, CLI commands and routes (in code)."""
    text = read(doc)
    code = code_of(text)
    return {
        "settings": re.findall(rf"\b{PREFIX}([A-Z0-9][A-Z0-9_]*)\b", text),
        "make": MAKE.findall(code),
        "cli": [" ".join(w for w in m[1:] if w) for m in CLI.findall(code)],
        "routes": [p for p in ROUTE.findall(code.replace("$B", "")) if not p.startswith("/api/edge/enroll.")],
    }


def unknown_cli(words: str, paths: dict[tuple[str, ...], bool]) -> bool:
    first, *rest = words.split()
    if (first,) not in paths:
        return True
    if paths[(first,)]:  # a group: its subcommand must exist
        return not rest or (first, rest[0]) not in paths
    return False


@pytest.mark.parametrize("doc", OPERATOR_DOCS)
def test_the_doc_names_only_things_that_exist(doc: str) -> None:
    names = names_in(doc)
    targets, paths, routes = makefile_targets(), cli_paths(cli_main), api_routes()
    problems = [f"setting {PREFIX}{s}" for s in names["settings"] if s not in FIELDS]
    problems += [f"make {t}" for t in names["make"] if t not in targets]
    problems += [f"eventpulse {c}" for c in names["cli"] if unknown_cli(c, paths)]
    problems += [f"route {r}" for r in names["routes"] if not is_route(r, routes)]
    assert not problems, f"{doc} names what does not exist: {sorted(set(problems))}"


def test_every_deploy_target_is_in_the_deploy_guide() -> None:
    named = set(names_in("docs/DEPLOY_GCP.md")["make"])
    missing = sorted(target for target, _ in gcp.PLANS.values() if target not in named)
    assert not missing, f"make targets missing from docs/DEPLOY_GCP.md: {missing}"


def test_every_make_target_is_documented_somewhere() -> None:
    docs = [read("README.md"), read("docs/LOCAL_DEV.md"), *(read(d) for d in OPERATOR_DOCS)]
    named = {t for text in docs for t in MAKE.findall(text)}
    hidden = {"help"} | {t for t in makefile_targets() if t.startswith(("$", "."))}
    missing = sorted(makefile_targets() - named - hidden)
    assert not missing, f"make targets no doc names: {missing}"


MAINTENANCE_COMMANDS = [
    "migrate",
    "reclaim",
    "replay",
    "replay-range",
    "prune",
    "lineage flush",
    "devices sweep",
]


def test_every_maintenance_command_is_in_the_runbook_or_the_maintenance_guide() -> None:
    named = set(names_in("RUNBOOK.md")["cli"] + names_in("docs/MAINTENANCE.md")["cli"])
    named |= {" ".join(c.split()[:2]) for c in named} | {c.split()[0] for c in named}
    paths = cli_paths(cli_main)
    assert all(tuple(c.split()) in paths for c in MAINTENANCE_COMMANDS), "MAINTENANCE_COMMANDS is stale"
    missing = [c for c in MAINTENANCE_COMMANDS if c not in named and c != "migrate"]
    assert not missing, f"maintenance commands missing from RUNBOOK.md and docs/MAINTENANCE.md: {missing}"


@pytest.mark.parametrize(
    ("doc", "text", "expected"),
    [
        ("docs/MAINTENANCE.md", "`EVENTPULSE_PRUNE_DAYS`", "setting EVENTPULSE_PRUNE_DAYS"),
        ("RUNBOOK.md", "`make deploy-cloud`", "make deploy-cloud"),
        ("docs/RUNBOOKS/INGESTION.md", "`eventpulse ingestions purge`", "eventpulse ingestions purge"),
        ("docs/RUNBOOKS/INGESTION.md", "`eventpulse vacuum`", "eventpulse vacuum"),
        ("docs/OBSERVABILITY.md", "`curl $B/api/ingestion/<id>`", "route /api/ingestion/<id>"),
        ("docs/DEPLOY_GCP.md", "`POST /internal/admin/restart`", "route /internal/admin/restart"),
    ],
)
def test_a_name_that_does_not_exist_fails(
    doc: str, text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / doc
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(read(doc) + f"\n\n{text}\n", encoding="utf-8")
    for needed in ("Makefile", "docs/API.md"):
        (tmp_path / needed).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / needed).write_text(read(needed), encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", tmp_path)
    with pytest.raises(AssertionError, match=re.escape(expected)):
        test_the_doc_names_only_things_that_exist(doc)


def test_an_undocumented_deploy_target_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gcp.PLANS, "teleport", ("teleport-gcp", gcp.plan_auth))
    with pytest.raises(AssertionError, match="teleport-gcp"):
        test_every_deploy_target_is_in_the_deploy_guide()


# --- tables that must agree with the Terraform ----------------------------------------------------


def rows(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"^\|\s*`([^`]+)`\s*\|.*$", text, re.MULTILINE)}


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


ROLE_LISTS = ("raw_bucket_roles", "queue_roles", "self_roles", "tasks_invoker_roles", "project_roles")


@pytest.mark.parametrize(("kind", "heading"), [("functions", "Functions"), ("jobs", "Cloud Run jobs")])
def test_the_deploy_guide_lists_each_accounts_roles_as_terraform_grants(kind: str, heading: str) -> None:
    declared = load_tree()[kind].locals[kind]
    table = rows(section(read("docs/DEPLOY_GCP.md"), heading))
    assert set(declared) <= set(table), (
        f"docs/DEPLOY_GCP.md {heading} lacks rows for {set(declared) - set(table)}"
    )
    cloud_sql = set(load_tree()[kind].locals["cloud_sql_roles"])  # every unit that reads the database
    for name, entry in declared.items():
        granted = {role for scope in ROLE_LISTS for role in entry.get(scope, [])}
        if "database_url" in entry["secrets"]:
            granted |= cloud_sql
        documented = set(re.findall(r"roles/[\w.]+", table[name]))
        assert documented == granted, (
            f"{name}: docs/DEPLOY_GCP.md says {sorted(documented)}, Terraform {sorted(granted)}"
        )


def test_the_deploy_guide_lists_each_secret_where_terraform_mounts_it() -> None:
    tree = load_tree()
    table = rows(section(read("docs/DEPLOY_GCP.md"), "Step by step"))
    mounted: dict[str, set[str]] = {}
    for kind in ("functions", "jobs"):
        for name, entry in tree[kind].locals[kind].items():
            for secret in entry["secrets"]:
                mounted.setdefault(secret, set()).add(name)
    for secret, variable in tree["secrets"].locals["secrets"].items():
        row = table.get(f"<prefix>-{secret.replace('_', '-')}")
        assert row is not None and f"`{variable}`" in row, (
            f"docs/DEPLOY_GCP.md has no row for secret {secret}"
        )
        if "every function and job" not in row:
            named = set(re.findall(r"`([a-z_]+)`", row.split("|")[3]))
            assert named == mounted[secret], (
                f"{secret}: the doc says {named}, Terraform mounts it in {mounted[secret]}"
            )


def test_the_accepted_checkov_findings_are_the_inline_skips() -> None:
    skips = set()
    for path in TERRAFORM.rglob("*.tf"):
        skips |= set(re.findall(r"#checkov:skip=(CKV2?_\w+):", path.read_text(encoding="utf-8")))
    documented = set(rows(section(read("docs/DEPLOY_GCP.md"), "Checkov")))
    assert skips == documented, (
        f"skipped in .tf {sorted(skips)}, listed in docs/DEPLOY_GCP.md {sorted(documented)}"
    )


def test_the_observability_guide_lists_every_metric_and_alert() -> None:
    monitoring = load_tree()["monitoring"]
    metrics = {**monitoring.locals["counters"], **monitoring.locals["distributions"]}
    text = section(read("docs/OBSERVABILITY.md"), "Metrics, alerts and the dashboard")
    assert set(rows(text)) >= set(metrics), f"metrics missing: {set(metrics) - set(rows(text))}"
    listed = {m.group(1) for m in re.finditer(r"^\| ([a-z ]+) \| ", text, re.MULTILINE)}
    alerts = {name.replace("_", " ") for name in monitoring.locals["alerts"]} | {"tasks waiting"}
    assert alerts <= listed, f"alerts missing from docs/OBSERVABILITY.md: {alerts - listed}"


def test_the_deploy_guide_states_the_upload_cors_rule_and_csp_terraform_sets() -> None:
    from eventpulse.api.web import build_security_headers

    storage = load_tree()["storage"]
    rule = next(d["cors"] for d in storage.resource("google_storage_bucket", "raw")["dynamic"] if "cors" in d)
    content = rule["content"][0]
    text = section(read("docs/DEPLOY_GCP.md"), "Step by step")
    spans = set(re.findall(r"`([^`\n]+)`", text))
    for header in storage.locals["signed_upload_headers"]:
        assert header in spans, f"docs/DEPLOY_GCP.md does not name the CORS header {header}"
    for method in content["method"]:
        assert f"method `{method}` only" in text, f"docs/DEPLOY_GCP.md does not say CORS allows {method} only"
    assert f"`max_age_seconds` {content['max_age_seconds']}" in text
    csp = build_security_headers(Settings(landing="gcs", gcs_bucket="b"))["Content-Security-Policy"]
    connect = "connect-src " + csp.split("connect-src ", 1)[1].split(";", 1)[0]
    assert f"`{connect}`" in text, f"docs/DEPLOY_GCP.md does not state the cloud CSP's {connect}"

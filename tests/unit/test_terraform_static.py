"""Every .tf file of infra/terraform parses (python-hcl2) and is laid out as `terraform fmt` would.

The terraform binary and its providers cannot be downloaded on these machines; tools/tffmt.py keeps
the formatter's rules (indentation, aligned ``=``, whitespace) and these tests prove it catches each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from tests.conftest import REPO_ROOT
from tests.unit.terraform_support import TERRAFORM, load_tree
from tools import tffmt

TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
EXPECTED_MODULES = {"apis", "storage", "tasks", "secrets", "data", "functions", "jobs", "monitoring", "web"}


def test_the_tree_has_every_module_and_both_environments() -> None:
    tree = load_tree()
    modules = {name for name in tree if not name.startswith("env/")}
    assert modules == EXPECTED_MODULES
    assert {"env/dev", "env/prod"} <= set(tree)
    for env in ("env/dev", "env/prod"):
        called = {plain_source(body["source"]) for body in tree[env].modules.values()}
        assert called == {f"../../modules/{m}" for m in EXPECTED_MODULES}, f"{env} does not call every module"


def plain_source(source: str) -> str:
    return source.strip('"')


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    parsed = hcl2.loads(path.read_text(encoding="utf-8"))
    assert parsed, f"{path} parsed to nothing"


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_is_formatted(path: Path) -> None:
    found = tffmt.differences(path)
    assert not found, "\n".join([*found[:10], "run: python tools/tffmt.py write"])


def test_a_broken_file_does_not_parse(tmp_path: Path) -> None:
    broken = (TERRAFORM / "modules" / "tasks" / "main.tf").read_text(encoding="utf-8").replace("}", "", 1)
    with pytest.raises(Exception):  # noqa: B017 - lark raises several error types
        hcl2.loads(broken)


TIDY = """resource "google_x" "y" {
  name     = "a"
  location = var.region

  labels = {
    app = "eventpulse"
  }
  args = concat(["a"], [
    "b",
  ])
  list = [for x in local.y : x if x != "=="]
}
"""


def test_the_formatter_keeps_a_tidy_file() -> None:
    assert tffmt.format_source(TIDY) == TIDY


UNTIDY = [
    (TIDY.replace("  name     = ", "  name = "), "unaligned ="),
    (TIDY.replace("  location = var.region", "  location  =  var.region"), "extra spaces around ="),
    (TIDY.replace("    app = ", "  app = "), "wrong indentation"),
    (TIDY.replace("    app = ", "\tapp = "), "a tab"),
    (TIDY.replace('"eventpulse"', '"eventpulse"   '), "trailing whitespace"),
    (TIDY.replace('    "b",\n  ])', '    "b",\n    ])'), "a closer not at its opener's level"),
]
STRICTER = [
    # terraform fmt keeps these; tools/tffmt.py does not (its docstring says so)
    (TIDY + "\n\n", "blank lines at the end"),
    (TIDY.replace("\n\n", "\n\n\n"), "a run of blank lines"),
]


@pytest.mark.parametrize(("untidy", "why"), UNTIDY + STRICTER)
def test_the_formatter_catches(untidy: str, why: str, tmp_path: Path) -> None:
    path = tmp_path / "main.tf"
    path.write_text(untidy, encoding="utf-8")
    assert tffmt.differences(path), f"{why} was not caught"
    assert tffmt.format_source(untidy) == TIDY, f"formatting did not undo {why}"


def test_heredoc_bodies_are_left_alone() -> None:
    source = "locals {\n  x = <<-EOT\n      keep   =  this\n    EOT\n  y = 1\n}\n"
    assert tffmt.format_source(source) == source


def test_the_check_command_fails_on_an_untidy_copy(tmp_path: Path) -> None:
    copy = tmp_path / "main.tf"
    copy.write_text(TIDY.replace("  name     = ", "  name = "), encoding="utf-8")
    assert tffmt.main(["check", str(copy)]) == 1
    assert tffmt.main(["write", str(copy)]) == 0
    assert tffmt.main(["check", str(copy)]) == 0


def terraform_fmt(source: str, tmp_path: Path) -> str:
    """What the real `terraform fmt` makes of ``source`` (it needs no provider and no network)."""
    path = tmp_path / "probe.tf"
    path.write_text(source, encoding="utf-8")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    subprocess.run(["terraform", "fmt", str(path)], env=env, capture_output=True, check=True, timeout=60)
    return path.read_text(encoding="utf-8")


needs_terraform = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="terraform is not installed: tools/tffmt.py alone checks the layout",
)


@needs_terraform
def test_terraform_fmt_finds_nothing_to_change() -> None:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", str(TERRAFORM)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"terraform fmt would change: {done.stdout}"


@needs_terraform
@pytest.mark.parametrize("case", range(len(UNTIDY)))
def test_the_checker_formats_as_terraform_fmt_does(case: int, tmp_path: Path) -> None:
    untidy = UNTIDY[case][0]
    assert tffmt.format_source(untidy) == terraform_fmt(untidy, tmp_path)


CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov is not installed: `make checkov` installs and runs it"
)


def checkov(folder: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHECKOV),
        "-d",
        str(folder),
        "--framework",
        "terraform",
        "--compact",
        "--quiet",
        "--skip-download",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@needs_checkov
def test_checkov_reports_no_failed_check() -> None:
    done = checkov(TERRAFORM)
    assert done.returncode == 0, f"checkov failed (fix, or accept in docs/DEPLOY_GCP.md):\n{done.stdout}"


@needs_checkov
def test_checkov_fails_when_the_raw_bucket_loses_its_protection(tmp_path: Path) -> None:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy)
    storage = copy / "modules" / "storage" / "main.tf"
    text = storage.read_text(encoding="utf-8")
    storage.write_text(text.replace('"enforced"', '"inherited"', 1), encoding="utf-8")
    done = checkov(copy)
    assert done.returncode != 0 and "CKV_GCP_114" in done.stdout, done.stdout

"""The deploy Make targets: each prints its plan, needs gcloud/terraform only when it runs, and names
the same resources as the Terraform (secrets, functions, images); verify-gcp probes every function."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra import gcp
from tests.conftest import REPO_ROOT
from tests.unit.terraform_support import load_tree

MAKEFILE = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
ARGS = {"init": ["--project", "p-1", "--region", "europe-west1"], "ingest-token-secret": ["--name", "ci"]}


@pytest.fixture
def no_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH with neither gcloud nor terraform (nor anything else)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


@pytest.fixture
def initialised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of infra/terraform whose dev environment `make init` has prepared."""
    copy = tmp_path / "terraform"
    shutil.copytree(gcp.TERRAFORM, copy)
    (copy / "environments" / "dev" / "terraform.tfvars").write_text(
        'project_id = "p-1"\nregion     = "europe-west1"\njobs_image = "none"\n'
    )
    monkeypatch.setattr(gcp, "TERRAFORM", copy)
    monkeypatch.setattr(gcp, "SECRETS_DIR", tmp_path / "secrets")
    return copy


@pytest.mark.parametrize("command", sorted(gcp.PLANS))
def test_every_target_prints_its_plan_without_gcloud_or_terraform(
    command: str, no_tools: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gcp.main(["--dry-run", command, *ARGS.get(command, [])]) == 0
    out = capsys.readouterr().out
    target = gcp.PLANS[command][0]
    assert out.startswith(f"make {target} will:\n  1. ")
    assert "(dry run: nothing was run)" in out


@pytest.mark.parametrize("command", ["auth", "check-secrets", "verify", "infra", "task-token-secret"])
def test_running_without_the_tools_fails_with_what_to_install(
    command: str, no_tools: None, initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gcp.main([command]) == 2
    err = capsys.readouterr().err
    assert re.search(r"(gcloud|terraform) is not installed: install ", err), err
    assert not (gcp.SECRETS_DIR / "dev").exists(), "nothing may run before the tools are checked"


def test_a_command_of_an_environment_not_initialised_says_to_run_init(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tfvars = gcp.TERRAFORM / "environments" / "dev" / "terraform.tfvars"
    if tfvars.exists():
        pytest.skip("this checkout has run make init")
    assert gcp.main(["deploy"]) == 1
    assert "make init PROJECT_ID=" in capsys.readouterr().err


def test_init_refuses_without_a_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert gcp.main(["init"]) == 1
    assert "PROJECT_ID=" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "role"), [("", "operator"), ("bad name", "operator"), ("ci", "root")])
def test_ingest_token_needs_a_valid_name_and_role(
    name: str, role: str, initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gcp.main(["--dry-run", "ingest-token-secret", "--name", name, "--role", role]) == 1
    err = capsys.readouterr().err
    assert ("ROLE=" if role == "root" else "NAME=") in err


def test_the_plans_name_the_resources_terraform_creates(initialised: Path) -> None:
    tree = load_tree(initialised)
    env = gcp.load_env("dev")
    assert env.prefix == tree["env/dev"].variables["name_prefix"]["default"]
    secret_id = tree["secrets"].resource("google_secret_manager_secret", "secret")["secret_id"]
    assert secret_id == '${var.name_prefix}-${replace(each.key, "_", "-")}'
    assert set(gcp.SECRETS) == set(tree["secrets"].locals["secrets"])
    assert env.secret_id("task_token_sha256") == "ep-dev-task-token-sha256"
    processor = tree["functions"].resource("google_cloudfunctions2_function", "processor")["name"]
    assert (
        processor == "${var.name_prefix}-process-task"
        and env.function_name("process_task") == "ep-dev-process-task"
    )
    function = tree["functions"].resource("google_cloudfunctions2_function", "function")["name"]
    assert function == '${var.name_prefix}-${replace(each.key, "_", "-")}'
    job = tree["jobs"].resource("google_cloud_run_v2_job", "job")["name"]
    assert job == function, "the migrate step runs the reclaim job by the functions' naming rule"
    repository = tree["storage"].resource("google_artifact_registry_repository", "images")["repository_id"]
    assert repository == "${var.name_prefix}-images" and env.images.endswith("/p-1/ep-dev-images")
    assert set(gcp.BASE_MODULES) < set(tree["env/dev"].modules)


def test_each_secret_names_the_target_that_fills_it() -> None:
    for target in set(gcp.SECRETS.values()):
        assert re.search(rf"^{re.escape(target)}:", MAKEFILE, re.M), f"no make target {target}"


@pytest.mark.parametrize("command", sorted(gcp.PLANS))
def test_each_command_is_a_make_target_that_runs_it(command: str) -> None:
    target = gcp.PLANS[command][0]
    recipe = re.search(rf"^{re.escape(target)}:[^\n]*##[^\n]*\n\t([^\n]+)", MAKEFILE, re.M)
    assert recipe, f"make {target} is missing or has no ## description for make help"
    assert re.search(rf"(\$\(GCP\)|infra/gcp\.py \$\(GCP_FLAGS\)) {re.escape(command)}\b", recipe.group(1))


def test_make_help_lists_the_deploy_targets() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        ["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = {re.sub(r"\x1b\[[0-9;]*m", "", line).split()[0] for line in out.splitlines() if line.strip()}
    assert {target for target, _ in gcp.PLANS.values()} <= listed


def test_verify_probes_every_function() -> None:
    functions = {p.parent.name for p in (REPO_ROOT / "functions").glob("*/main.py")}
    assert set(gcp.PROBES) | set(gcp.INTERNAL) == functions
    assert not set(gcp.PROBES) & set(gcp.INTERNAL)


def test_the_probed_routes_exist() -> None:
    from eventpulse.api.edge_app import ENROLL_PATH, is_device_path

    api_doc = (REPO_ROOT / "docs" / "API.md").read_text(
        encoding="utf-8"
    )  # its table is tested against the app
    for probe in gcp.PROBES["api"]:
        assert f"| {probe.method} | `{probe.path}` |" in api_doc
    assert [p.path for p in gcp.PROBES["edge_enroll"]] == [ENROLL_PATH]
    assert all(is_device_path(p.path) for p in gcp.PROBES["edge_ingest"])
    assert f"| GET | `{gcp.PROBES['edge_ingest'][0].path}` |" in api_doc


def test_the_internal_functions_are_the_ones_with_internal_ingress(initialised: Path) -> None:
    functions = load_tree(initialised)["functions"].locals["functions"]
    assert {name for name, f in functions.items() if f["ingress"] == "internal"} == set(gcp.INTERNAL)


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200 if self.path == "/health" else 401)
        self.end_headers()

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_probe_passes_on_the_expected_status_and_fails_on_another(local_server: str) -> None:
    assert gcp.probe(local_server, gcp.Probe("GET", "/health", 200, "up"))[0]
    assert gcp.probe(local_server, gcp.Probe("POST", "/", 401, "token checked", {"a": "b"}))[0]
    ok, said = gcp.probe(local_server, gcp.Probe("GET", "/readyz", 200, "db"))
    assert not ok and "HTTP 401" in said


def test_a_probe_of_a_server_that_is_not_there_fails() -> None:
    ok, said = gcp.probe("http://127.0.0.1:9", gcp.Probe("GET", "/health", 200, "up"))
    assert not ok and "no answer" in said


def test_passwords_never_reach_the_printed_plan() -> None:
    argv = ["gcloud", "sql", "users", "create", "eventpulse", "--password=s3cret-value"]
    assert "s3cret-value" not in gcp.shown(argv) and "[REDACTED]" in gcp.shown(argv)


def test_a_kept_token_is_readable_by_its_owner_only(initialised: Path) -> None:
    env = gcp.load_env("dev")
    gcp.run_step(gcp.keep_token(env, "task_token", "tok-123"))
    path = gcp.SECRETS_DIR / "dev" / "task_token"
    assert path.read_text() == "tok-123\n" and path.stat().st_mode & 0o777 == 0o600


def test_the_jobs_image_builds_on_the_functions_python_and_uploads_no_local_state() -> None:
    import tomllib

    build = {e["name"]: e["value"] for e in tomllib.loads(read_root("project.toml"))["build"]["env"]}
    runtime = load_tree()["functions"].locals["runtime"]  # python311
    assert build["GOOGLE_PYTHON_VERSION"] == f"3.{runtime.removeprefix('python3')}.x"
    assert (REPO_ROOT / build["GOOGLE_ENTRYPOINT"].split()[1]).is_file()
    ignore = read_root(".gcloudignore")
    assert "#!include:.gitignore" in ignore and ".git" in ignore.split()
    ignored = read_root(".gitignore").split()
    assert {".venv/", "/data/", "/build/", "/.secrets/", ".venv-checkov/"} <= set(ignored)


def read_root(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


def test_init_writes_the_environment_config_and_keeps_an_edited_one(initialised: Path) -> None:
    import argparse

    folder = initialised / "environments" / "prod"
    args = argparse.Namespace(env="prod", project="p-2", region="us-east1")
    write = gcp.plan_init(args)[-1]
    gcp.run_step(write)
    assert 'project_id = "p-2"' in (folder / "terraform.tfvars").read_text()
    assert (
        folder / "backend.conf"
    ).read_text() == 'bucket = "p-2-eventpulse-tfstate"\nprefix = "eventpulse/prod"\n'
    assert gcp.load_env("prod").project == "p-2" and gcp.load_env("prod").prefix == "ep-prod"
    (folder / "terraform.tfvars").write_text(
        'project_id = "p-2"\nregion = "us-east1"\ndomain = "x.example.com"\n'
    )
    gcp.run_step(gcp.plan_init(args)[-1])
    assert 'domain = "x.example.com"' in (folder / "terraform.tfvars").read_text()

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


def test_web_deploy_writes_the_config_and_cache_headers_eventpulse_serve_gives() -> None:
    from eventpulse.api.web import build_runtime_config
    from eventpulse.settings import Settings

    assert set(gcp.runtime_config("1.0")) == set(build_runtime_config(Settings()))
    assert gcp.runtime_config("1.0")["api_base_url"] == "", (
        "behind the load balancer the API is on the same origin"
    )
    config_ts = read_root("web/src/config.ts")
    assert all(f"c.{key}" in config_ts for key in gcp.runtime_config("1.0")), (
        "web/src/config.ts reads other keys"
    )
    web_py = read_root("shared/eventpulse/api/web.py")
    assert all(f'"{value}"' in web_py for value in gcp.CACHE_CONTROL.values())


FAKE_GCLOUD = '''#!{python}
"""A stand-in for gcloud's Secret Manager commands: versions in a JSON file, every call logged."""
import json, os, sys
state_path, log_path = os.environ["FAKE_GCLOUD_STATE"], os.environ["FAKE_GCLOUD_LOG"]
state = json.load(open(state_path)) if os.path.exists(state_path) else {{}}
args = sys.argv[1:]
stdin = sys.stdin.read() if "--data-file=-" in args else None
with open(log_path, "a") as log:
    log.write(json.dumps({{"argv": args, "stdin": stdin}}) + "\\n")
if args[:3] == ["secrets", "versions", "add"]:
    state.setdefault(args[3], []).append(stdin)
    json.dump(state, open(state_path, "w"))
elif args[:3] == ["secrets", "versions", "list"]:
    print("1" if state.get(args[3]) else "")
elif args[:3] == ["run", "jobs", "describe"]:
    print(args[3] if os.environ.get("FAKE_JOB_EXISTS") else "")
elif args[:2] in (["run", "jobs"], ["builds", "submit"]) or args[:3] == ["sql", "users", "assign-roles"]:
    pass
elif args[:3] == ["sql", "instances", "describe"]:  # FAKE_CLOUD_SQL: the instance exists
    if not os.environ.get("FAKE_CLOUD_SQL"):
        sys.exit(1)
    print("p-1:europe-west1:" + args[3])
elif args[:3] == ["secrets", "versions", "access"]:
    secret = next(a.split("=", 1)[1] for a in args if a.startswith("--secret="))
    if not state.get(secret):
        sys.exit(1)
    print(state[secret][-1], end="")
else:
    sys.exit(3)
'''


@pytest.fixture
def fake_gcloud(initialised: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(FAKE_GCLOUD.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_GCLOUD_STATE", str(tmp_path / "state.json"))
    monkeypatch.setenv("FAKE_GCLOUD_LOG", str(tmp_path / "calls.log"))
    return tmp_path


def calls(where: Path) -> list[dict[str, object]]:
    import json

    log = where / "calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def versions(where: Path) -> dict[str, list[str]]:
    import json

    return json.loads((where / "state.json").read_text())


def test_check_secrets_names_the_target_for_each_missing_secret(
    fake_gcloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gcp.main(["check-secrets"]) == 1
    err = capsys.readouterr().err
    assert (
        "make db-secret" in err and "make edge-enroll-token-secret" in err and "make task-token-secret" in err
    )


def test_the_secret_targets_store_digests_and_keep_tokens_out_of_argv_and_stdout(
    fake_gcloud: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@10.1.2.3:5432/eventpulse")
    assert gcp.main(["db-secret"]) == 0
    assert gcp.main(["task-token-secret"]) == 0
    assert gcp.main(["ingest-token-secret", "--name", "ci", "--role", "operator"]) == 0
    assert gcp.main(["ingest-token-secret", "--name", "oncall", "--role", "admin"]) == 0
    assert gcp.main(["ingest-token-secret", "--name", "ci"]) == 1, "a second token named ci is refused"
    assert gcp.main(["edge-enroll-token-secret"]) == 0
    assert gcp.main(["edge-enroll-token-secret"]) == 0  # a new enroll token; the pepper is kept
    out = capsys.readouterr().out

    stored = versions(fake_gcloud)
    tokens = {p.name: p.read_text().strip() for p in (gcp.SECRETS_DIR / "dev").iterdir()}
    assert stored["ep-dev-database-url"] == ["postgresql://app:s3cret@10.1.2.3:5432/eventpulse"]
    assert stored["ep-dev-task-token-sha256"] == [hashlib.sha256(tokens["task_token"].encode()).hexdigest()]
    ci, oncall = (hashlib.sha256(tokens[f"api_token_{n}"].encode()).hexdigest() for n in ("ci", "oncall"))
    assert stored["ep-dev-api-tokens"][-1] == f"ci:operator:{ci},oncall:admin:{oncall}"
    assert (
        len(stored["ep-dev-edge-enroll-token-sha256"]) == 2 and len(stored["ep-dev-device-token-pepper"]) == 1
    )
    secrets_ = [*tokens.values(), "s3cret", stored["ep-dev-device-token-pepper"][0]]
    argvs = " ".join(str(c["argv"]) for c in calls(fake_gcloud))
    assert not [s for s in secrets_ if s in argvs or s in out], "a secret reached an argument or the terminal"
    assert gcp.main(["check-secrets"]) == 0


def test_db_secret_on_cloud_sql_makes_no_password_and_check_secrets_needs_no_url(
    fake_gcloud: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLOUD_SQL", "1")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert gcp.main(["db-secret"]) == 0
    assert "IAM database auth" in capsys.readouterr().out
    assert not [c for c in calls(fake_gcloud) if c["argv"][:2] == ["sql", "users"]], "no user is made"
    assert not [c for c in calls(fake_gcloud) if "--password" in " ".join(map(str, c["argv"]))]
    for key in gcp.SECRETS:
        if key != "database_url":
            gcp.run_step(gcp.add_version(gcp.load_env("dev"), key, "x"))
    assert gcp.main(["check-secrets"]) == 0, "with Cloud SQL the database-url secret is not mounted"
    assert "not used (Cloud SQL, IAM auth)" in capsys.readouterr().out
    monkeypatch.delenv("FAKE_CLOUD_SQL")
    assert gcp.main(["check-secrets"]) == 1, "without Cloud SQL it is"


def test_db_secret_without_cloud_sql_asks_for_a_database_url(
    fake_gcloud: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert gcp.main(["db-secret"]) == 1
    assert "pass DATABASE_URL=postgresql://" in capsys.readouterr().err


FAKE_TERRAFORM = """#!/bin/sh
echo "{\\"argv\\": \\"terraform $*\\", \\"stdin\\": null}" >> "$FAKE_GCLOUD_LOG"
"""


@pytest.mark.parametrize("upgrade", [True, False], ids=["upgrade", "first deploy"])
def test_deploy_migrates_before_the_functions_move_on_an_upgrade(
    upgrade: bool, fake_gcloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    terraform = fake_gcloud / "bin" / "terraform"
    terraform.write_text(FAKE_TERRAFORM)
    terraform.chmod(0o755)
    monkeypatch.setattr(sys, "executable", "/bin/true")  # the bundle step: not what is tested here
    if upgrade:
        monkeypatch.setenv("FAKE_JOB_EXISTS", "1")
    for key in gcp.SECRETS:  # every secret has a version
        gcp.run_step(gcp.add_version(gcp.load_env("dev"), key, "x"))
    assert gcp.main(["deploy"]) == 0
    order = [str(c["argv"]) for c in calls(fake_gcloud)]
    apply = next(i for i, c in enumerate(order) if c.startswith("terraform apply"))
    migrations = [i for i, c in enumerate(order) if "execute" in c and "main(['migrate'])" in c]
    assert len(migrations) == 1, order
    assert (migrations[0] < apply) == upgrade, order
    if upgrade:
        update = next(i for i, c in enumerate(order) if "'update'" in c and "--image=" in c)
        assert update < migrations[0], "the migration runs the new image"


FAKE_TERRAFORM_CLOUD_SQL = """#!/bin/sh
echo "{\\"argv\\": \\"terraform $*\\", \\"stdin\\": null}" >> "$FAKE_GCLOUD_LOG"
users='["ep-dev-api@p-1.iam", "ep-dev-job-replay@p-1.iam"]'
case "$*" in *"output -json cloud_sql_users"*) echo "$users";; esac
"""


def test_a_first_deploy_on_cloud_sql_gives_every_iam_user_the_owner_role_before_migrating(
    fake_gcloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    terraform = fake_gcloud / "bin" / "terraform"
    terraform.write_text(FAKE_TERRAFORM_CLOUD_SQL)
    terraform.chmod(0o755)
    monkeypatch.setattr(sys, "executable", "/bin/true")
    monkeypatch.setenv("FAKE_CLOUD_SQL", "1")
    for key in gcp.SECRETS:
        if key != "database_url":  # not used with Cloud SQL
            gcp.run_step(gcp.add_version(gcp.load_env("dev"), key, "x"))
    assert gcp.main(["deploy"]) == 0
    argvs = [c["argv"] for c in calls(fake_gcloud)]  # terraform's log line holds one string
    order = [a if isinstance(a, str) else " ".join(map(str, a)) for a in argvs]
    apply = next(i for i, c in enumerate(order) if c.startswith("terraform apply"))
    grants = [i for i, c in enumerate(order) if c.startswith("sql users assign-roles")]
    migrate = next(i for i, c in enumerate(order) if "main(['migrate'])" in c)
    assert len(grants) == 2 and apply < min(grants) and max(grants) < migrate, order
    assert all(f"--database-roles={gcp.DATABASE_ROLE}" in order[i] for i in grants)
    assert "ep-dev-api@p-1.iam" in order[grants[0]] and "--type=CLOUD_IAM_SERVICE_ACCOUNT" in order[grants[0]]

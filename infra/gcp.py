"""The operator commands behind the deploy Make targets: each prints its plan, then runs it.

    python infra/gcp.py [--dry-run] COMMAND [--env dev|prod] [options]

Commands (Make target in brackets): auth [auth], init [init], infra [infra-gcp], db-secret,
task-token-secret, ingest-token-secret, edge-enroll-token-secret, check-secrets [check-secrets-gcp],
deploy [deploy-gcp], verify [verify-gcp], drift [drift-gcp], web-deploy [web-deploy]. They need
``gcloud`` (and ``terraform`` for infra, deploy, verify and drift) only when they run: ``--dry-run``
prints the plan on any machine. Standard library only: no virtualenv is needed except for ``deploy``
and ``drift``, which bundle.
Tokens are written to ``.secrets/<env>/`` (mode 600) and Secret Manager; never printed or logged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "infra" / "terraform"
SECRETS_DIR = ROOT / ".secrets"
BASE_MODULES = ("apis", "storage", "tasks", "secrets", "data")
"""What ``infra`` applies: everything the secrets and the first deploy need, before any function."""

SECRETS = {
    # secret key (modules/secrets) => the Make target that adds its version
    "database_url": "db-secret",
    "api_tokens": "ingest-token-secret",
    "task_token_sha256": "task-token-secret",
    "edge_enroll_token_sha256": "edge-enroll-token-secret",
    "device_token_pepper": "edge-enroll-token-secret",
}
TOKEN_ROLES = ("viewer", "operator", "admin")
DATABASE_ROLE = "cloudsqlsuperuser"
"""With Cloud SQL: the database role every service's IAM user is made a member of, and that its sessions
take (EVENTPULSE_DB_ROLE, set by the Terraform): one owner of the schema for all services."""


@dataclass(frozen=True)
class Probe:
    """One request to a deployed function and the status that proves it serves (with its settings)."""

    method: str
    path: str
    status: int
    why: str
    body: dict[str, str] | None = None


PROBES: dict[str, list[Probe]] = {
    "api": [
        Probe("GET", "/health", 200, "the process answers"),
        Probe("GET", "/readyz", 200, "the database answers"),
    ],
    "signed_url": [Probe("POST", "/", 401, "settings loaded; the bearer token is checked")],
    "edge_enroll": [
        Probe(
            "POST",
            "/api/edge/enroll",
            401,
            "enrollment configured (503 when its secrets are missing); the fleet token is checked",
            {"device_id": "verify-gcp", "enroll_fingerprint": "verify-gcp-probe"},
        )
    ],
    "edge_ingest": [Probe("GET", "/api/edge/ping", 401, "device routes answer; the device token is checked")],
}
INTERNAL = ("process_task", "gcs_finalize")
"""Internal ingress (Cloud Tasks, Eventarc only): verified by their state, not by a request."""


class Failed(Exception):
    """A step failed; the message says what to do. ``code`` is the exit status (2: drift found)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class Step:
    what: str
    tool: str | None = None
    argv: list[str] = field(default_factory=list)
    run: Callable[[], None] | None = None
    stdin: bytes | None = field(default=None, repr=False)
    cwd: Path | None = None


@dataclass
class Env:
    """One environment: its Terraform folder and the values `make init` wrote there."""

    name: str
    project: str = ""
    region: str = ""
    prefix: str = ""

    @property
    def folder(self) -> Path:
        return TERRAFORM / "environments" / self.name

    def secret_id(self, key: str) -> str:
        """As modules/secrets names it: ``<prefix>-<key with hyphens>``."""
        return f"{self.prefix}-{key.replace('_', '-')}"

    def function_name(self, name: str) -> str:
        return f"{self.prefix}-{name.replace('_', '-')}"

    @property
    def images(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.prefix}-images"


def load_env(name: str) -> Env:
    env = Env(name)
    folder = env.folder
    if not folder.is_dir():
        known = sorted(p.name for p in (TERRAFORM / "environments").iterdir() if p.is_dir())
        raise Failed(f"no environment {name!r} under infra/terraform/environments (known: {known})")
    tfvars = folder / "terraform.tfvars"
    values = (
        dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', tfvars.read_text(), re.M)) if tfvars.exists() else {}
    )
    default = re.search(
        r'variable "name_prefix" \{[^}]*default\s*=\s*"([^"]+)"', (folder / "variables.tf").read_text()
    )
    env.project = values.get("project_id", "")
    env.region = values.get("region", "")
    env.prefix = values.get("name_prefix") or (default.group(1) if default else "ep")
    return env


DRY_RUN = {"on": False}
"""Set by --dry-run: plans of an environment not yet initialised show placeholders instead of failing."""


def require_init(env: Env) -> None:
    if DRY_RUN["on"]:
        env.project = env.project or "<PROJECT_ID>"
        env.region = env.region or "<REGION>"
    if not env.project or not env.region:
        raise Failed(
            f"environment {env.name} has no project: run `make init PROJECT_ID=... REGION=... ENV={env.name}`"
        )


# --- plans --------------------------------------------------------------------------------------


def plan_auth(_: argparse.Namespace) -> list[Step]:
    return [
        Step("log in to Google Cloud as you (browser)", "gcloud", ["gcloud", "auth", "login"]),
        Step(
            "give Terraform your credentials (application default credentials)",
            "gcloud",
            ["gcloud", "auth", "application-default", "login"],
        ),
    ]


def plan_init(args: argparse.Namespace) -> list[Step]:
    if DRY_RUN["on"]:
        args.project, args.region = args.project or "<PROJECT_ID>", args.region or "<REGION>"
    if not args.project or not args.region:
        raise Failed("make init needs PROJECT_ID=<project id> and REGION=<region>, e.g. REGION=us-central1")
    env = load_env(args.env)
    env.project, env.region = args.project, args.region
    state = f"{args.project}-eventpulse-tfstate"
    gc = ["--project", args.project]

    def write_config() -> None:
        tfvars = env.folder / "terraform.tfvars"
        if tfvars.exists():
            print(f"    {tfvars.name} exists: kept (edit project_id and region there)")
        else:
            tfvars.write_text(
                f'project_id = "{args.project}"\nregion     = "{args.region}"\n'
                '# jobs_image is passed by make deploy-gcp\njobs_image = "none"\n'
                "# the other variables: see terraform.tfvars.example\n"
            )
        (env.folder / "backend.conf").write_text(f'bucket = "{state}"\nprefix = "eventpulse/{env.name}"\n')

    def create_state_bucket() -> None:
        if capture(["gcloud", "storage", "buckets", "describe", f"gs://{state}", *gc], allow_failure=True):
            print(f"    gs://{state} exists: kept")
            return
        create = ["gcloud", "storage", "buckets", "create", f"gs://{state}", f"--location={args.region}"]
        capture([*create, "--uniform-bucket-level-access", "--public-access-prevention", *gc])

    return [
        Step(
            f"use project {args.project} in gcloud",
            "gcloud",
            ["gcloud", "config", "set", "project", args.project],
        ),
        Step(
            "enable the APIs Terraform itself needs (Service Usage, Storage)",
            "gcloud",
            ["gcloud", "services", "enable", "serviceusage.googleapis.com", "storage.googleapis.com", *gc],
        ),
        Step(
            f"create the state bucket gs://{state} (uniform access, no public access) unless it exists",
            "gcloud",
            run=create_state_bucket,
        ),
        Step(
            "turn on versioning of the state bucket",
            "gcloud",
            ["gcloud", "storage", "buckets", "update", f"gs://{state}", "--versioning", *gc],
        ),
        Step(
            f"write {relative(env.folder)}/terraform.tfvars (unless it exists) and backend.conf",
            run=write_config,
        ),
    ]


def terraform_init(env: Env) -> Step:
    return Step(
        "terraform init (state in the bucket make init created)",
        "terraform",
        ["terraform", "init", "-input=false", "-backend-config=backend.conf"],
        cwd=env.folder,
    )


def terraform_apply(env: Env, *extra: str) -> list[str]:
    approve = ["-auto-approve"] if os.environ.get("AUTO_APPROVE") == "1" else []
    return ["terraform", "apply", "-input=false", *approve, *extra]


def plan_infra(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    targets = [f"-target=module.{m}" for m in BASE_MODULES]
    return [
        terraform_init(env),
        Step(
            f"apply the base modules ({', '.join(BASE_MODULES)}): APIs, buckets, queue, secrets, data",
            "terraform",
            terraform_apply(env, "-var=jobs_image=none", *targets),
            cwd=env.folder,
        ),
        Step(
            "next: add the secrets (make db-secret, task-token-secret, ...), then make deploy-gcp",
            run=lambda: None,
        ),
    ]


def add_version(env: Env, key: str, value: str) -> Step:
    secret = env.secret_id(key)
    return Step(
        f"add a version to secret {secret}",
        "gcloud",
        ["gcloud", "secrets", "versions", "add", secret, "--data-file=-", "--project", env.project],
        stdin=value.encode(),
    )


def keep_token(env: Env, name: str, token: str) -> Step:
    path = SECRETS_DIR / env.name / name

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(token + "\n")
        path.chmod(0o600)
        print(f"    the token is in {relative(path)} (mode 600); hand it over, then delete the file")

    return Step(f"keep the token in .secrets/{env.name}/{name} (mode 600)", run=write)


def relative(path: Path) -> Path:
    """``path`` relative to the repository when it is inside it (for messages)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def plan_db_secret(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    url = os.environ.get("DATABASE_URL", "")
    if url:
        if not re.match(r"^postgres(ql)?(\+pg8000)?://", url):
            raise Failed("DATABASE_URL must be postgresql://user:password@host:port/dbname")
        return [add_version(env, "database_url", url)]

    # Cloud SQL: every function and job logs in as its own service account (IAM database auth through
    # the connector; Terraform creates the database users), so there is no password to make or store.
    def explain() -> None:
        instance = cloud_sql_connection_name(env)
        if instance is None:
            raise Failed(
                "no Cloud SQL in this environment: pass DATABASE_URL=postgresql://... (your own Postgres)"
            )
        print(
            f"    {instance}: the services log in as their service accounts (IAM database auth); "
            f"no password exists and {env.secret_id('database_url')} is not used"
        )

    return [
        Step(
            f"find the Cloud SQL instance {env.prefix}-postgres (no password user is made)",
            "gcloud",
            run=explain,
        )
    ]


def cloud_sql_connection_name(env: Env) -> str | None:
    """The connection name of the environment's Cloud SQL instance (data module: ``<prefix>-postgres``)."""
    out = capture(
        [
            "gcloud",
            "sql",
            "instances",
            "describe",
            f"{env.prefix}-postgres",
            "--format=value(connectionName)",
            "--project",
            env.project,
        ],
        allow_failure=True,
    )
    return out.strip() or None


def plan_task_token(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    token = secrets.token_urlsafe(32)
    return [add_version(env, "task_token_sha256", sha256(token)), keep_token(env, "task_token", token)]


def plan_ingest_token(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    name, role = args.name, args.role
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", name or ""):
        raise Failed("NAME= must be 1-64 letters, digits, '.', '_' or '-' (who uses the token, e.g. NAME=ci)")
    if role not in TOKEN_ROLES:
        raise Failed(f"ROLE= must be one of {', '.join(TOKEN_ROLES)}")
    token = secrets.token_urlsafe(32)
    secret = env.secret_id("api_tokens")
    entry = f"{name}:{role}:{sha256(token)}"

    def add() -> None:
        current = capture(
            [
                "gcloud",
                "secrets",
                "versions",
                "access",
                "latest",
                f"--secret={secret}",
                "--project",
                env.project,
            ],
            allow_failure=True,
        )
        entries = [e.strip() for e in current.split(",") if e.strip()]
        if any(e.split(":", 1)[0] == name for e in entries):
            raise Failed(f"a token named {name!r} exists: choose another NAME= (names are unique)")
        run_step(add_version(env, "api_tokens", ",".join([*entries, entry])))

    return [
        Step(f"append a {role} token named {name} to secret {secret} (name:role:sha256)", "gcloud", run=add),
        keep_token(env, f"api_token_{name}", token),
    ]


def plan_enroll_token(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    token = secrets.token_urlsafe(32)
    pepper_secret = env.secret_id("device_token_pepper")

    def pepper_once() -> None:
        if has_version(env, "device_token_pepper"):
            print(f"    {pepper_secret} has a version: kept (a new pepper invalidates every device token)")
            return
        run_step(add_version(env, "device_token_pepper", secrets.token_urlsafe(48)))

    return [
        add_version(env, "edge_enroll_token_sha256", sha256(token)),
        keep_token(env, "edge_enroll_token", token),
        Step(
            f"create the device token pepper in {pepper_secret}, only if it has no version",
            "gcloud",
            run=pepper_once,
        ),
    ]


def has_version(env: Env, key: str) -> bool:
    out = capture(
        [
            "gcloud",
            "secrets",
            "versions",
            "list",
            env.secret_id(key),
            "--filter=state:ENABLED",
            "--limit=1",
            "--format=value(name)",
            "--project",
            env.project,
        ],
        allow_failure=True,
    )
    return bool(out.strip())


def plan_check_secrets(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)

    def check() -> None:
        # With Cloud SQL the services log in as their accounts: the database-url secret is not mounted.
        unused = {"database_url"} if cloud_sql_connection_name(env) else set()
        missing = [key for key in SECRETS if key not in unused and not has_version(env, key)]
        for key in SECRETS:
            state = (
                "not used (Cloud SQL, IAM auth)" if key in unused else "MISSING" if key in missing else "ok"
            )
            print(f"    {env.secret_id(key):40} {state}")
        if missing:
            fixes = sorted({SECRETS[key] for key in missing})
            raise Failed(f"secrets without a version: {missing}; run {', '.join('make ' + f for f in fixes)}")

    return [
        Step(f"check that each of the {len(SECRETS)} secrets has an enabled version", "gcloud", run=check)
    ]


def image_tag() -> str:
    """The commit the image is built from (``-dirty`` with uncommitted changes)."""
    if shutil.which("git") is None:
        return "unknown"
    head = capture(["git", "rev-parse", "--short=12", "HEAD"], allow_failure=True).strip() or "unknown"
    dirty = capture(["git", "status", "--porcelain"], allow_failure=True).strip()
    return f"{head}-dirty" if dirty else head


def plan_deploy(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    image = f"{env.images}/jobs:{image_tag()}"
    job = env.function_name("reclaim_stuck")
    holder: dict[str, bool] = {}
    return [
        Step(
            "build one source archive per function (infra/bundle.py)",
            argv=[sys.executable, "infra/bundle.py"],
            cwd=ROOT,
        ),
        Step(
            f"build and push the jobs image {image} (Cloud Build, buildpacks)",
            "gcloud",
            [
                "gcloud",
                "builds",
                "submit",
                "--project",
                env.project,
                "--region",
                env.region,
                f"--pack=image={image}",  # project.toml sets the Python version and entrypoint
                ".",
            ],
            cwd=ROOT,
        ),
        *plan_check_secrets(args),
        terraform_init(env),
        Step(
            f"upgrade: put the new image on {job} and migrate with it, before any function runs new code",
            "gcloud",
            run=lambda: migrate_first(env, job, image, holder),
        ),
        Step(
            "apply every module (new function sources, the new image)",
            "terraform",
            terraform_apply(env, f"-var=jobs_image={image}"),
            cwd=env.folder,
        ),
        Step(
            f"with Cloud SQL: make each service's IAM database user a member of {DATABASE_ROLE}",
            "gcloud",
            run=lambda: assign_database_role(env),
        ),
        Step(
            "first deploy: migrate now that the job exists (an upgrade migrated above)",
            "gcloud",
            run=lambda: (
                None
                if holder.get("migrated")
                else run_step(Step("migrate", "gcloud", migrate_argv(env, job)))
            ),
        ),
        Step(f"next: make verify-gcp ENV={env.name}", run=lambda: None),
    ]


MIGRATE = "from eventpulse.cli import main; main(['migrate'])"
"""``eventpulse migrate`` as python -c code without a comma (``gcloud ... --args`` splits on commas)."""


def migrate_argv(env: Env, job: str) -> list[str]:
    """Run the migrations once as an execution of ``job`` (its image, account and settings)."""
    where = ["--region", env.region, "--project", env.project]
    return ["gcloud", "run", "jobs", "execute", job, *where, "--wait", f"--args=-c,{MIGRATE}"]


def migrate_first(env: Env, job: str, image: str, holder: dict[str, bool]) -> None:
    """On an upgrade, migrate with the new image before Terraform moves any function to new code
    (migrations are additive: the running code keeps working on the new schema)."""
    where = ["--region", env.region, "--project", env.project]
    found = capture(
        ["gcloud", "run", "jobs", "describe", job, *where, "--format=value(name)"], allow_failure=True
    )
    if not found.strip():
        print(f"    {job} does not exist yet (first deploy): migrating after the apply")
        return
    capture(["gcloud", "run", "jobs", "update", job, *where, f"--image={image}"])
    run_step(Step("migrate", "gcloud", migrate_argv(env, job)))
    holder["migrated"] = True


def assign_database_role(env: Env) -> None:
    """Give every IAM database user the shared owner role (the provider cannot yet; idempotent)."""
    users = terraform_output(env, "cloud_sql_users")
    if not users:
        print("    no Cloud SQL (or no IAM database user): nothing to do")
        return
    assert isinstance(users, list)
    for user in users:
        capture(
            [
                "gcloud",
                "sql",
                "users",
                "assign-roles",
                str(user),
                f"--instance={env.prefix}-postgres",
                "--type=CLOUD_IAM_SERVICE_ACCOUNT",
                f"--database-roles={DATABASE_ROLE}",
                "--project",
                env.project,
            ]
        )
        print(f"    {user}: member of {DATABASE_ROLE}")


def terraform_output(env: Env, name: str) -> object:
    out = capture(["terraform", f"-chdir={env.folder}", "output", "-json", name], allow_failure=True)
    return json.loads(out) if out.strip() else None


def probe(url: str, check: Probe) -> tuple[bool, str]:
    data = json.dumps(check.body or {}).encode() if check.method == "POST" else None
    request = urllib.request.Request(url.rstrip("/") + check.path, data=data, method=check.method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - https URLs from Terraform
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, TimeoutError) as error:
        return False, f"no answer ({error})"
    return status == check.status, f"HTTP {status} (want {check.status}: {check.why})"


def plan_verify(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)

    def verify() -> None:
        urls = terraform_output(env, "function_urls")
        if not isinstance(urls, dict):
            raise Failed("no function URLs in the Terraform state: run make deploy-gcp first")
        failed = []
        for name, checks in PROBES.items():
            for check in checks:
                ok, said = (
                    probe(str(urls.get(name, "")), check) if urls.get(name) else (False, "not deployed")
                )
                print(f"    {'ok  ' if ok else 'FAIL'} {name:13} {check.method} {check.path:18} {said}")
                failed += [] if ok else [name]
        for name in INTERNAL:
            state = capture(
                [
                    "gcloud",
                    "functions",
                    "describe",
                    env.function_name(name),
                    "--region",
                    env.region,
                    "--project",
                    env.project,
                    "--format=value(state)",
                ],
                allow_failure=True,
            ).strip()
            mark = "ok  " if state == "ACTIVE" else "FAIL"
            print(f"    {mark} {name:13} state {state or 'unknown'} (internal ingress)")
            failed += [] if state == "ACTIVE" else [name]
        if failed:
            raise Failed(f"not serving: {sorted(set(failed))}; see docs/DEPLOY_GCP.md#troubleshooting")

    return [
        Step(
            f"call the health routes of {', '.join(PROBES)} and check the state of {', '.join(INTERNAL)}",
            "terraform",
            run=verify,
        )
    ]


def plan_drift(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    job = env.function_name("reclaim_stuck")
    holder: dict[str, str] = {}

    def deployed_image() -> None:
        image = capture(
            [
                "gcloud",
                "run",
                "jobs",
                "describe",
                job,
                "--region",
                env.region,
                "--project",
                env.project,
                "--format=value(template.template.containers[0].image)",
            ]
        ).strip()
        if not image:
            raise Failed(f"cannot read the image of {job}: is {env.name} deployed?")
        holder["image"] = image
        print(f"    deployed image: {image}")

    def plan() -> None:
        argv = [
            "terraform",
            "plan",
            "-input=false",
            "-lock=false",
            "-detailed-exitcode",
            f"-var=jobs_image={holder['image']}",
        ]
        done = subprocess.run(argv, cwd=env.folder, check=False)
        if done.returncode == 2:
            raise Failed(
                "drift: the real infrastructure differs from Terraform (docs/DRIFT_DETECTION.md)", code=2
            )
        if done.returncode:
            raise Failed(f"terraform plan failed (exit {done.returncode})")
        print("    no drift: the infrastructure is what Terraform describes")

    return [
        Step(
            "build the function archives of this commit (deterministic: the deployed commit gives the same)",
            argv=[sys.executable, "infra/bundle.py"],
            cwd=ROOT,
        ),
        terraform_init(env),
        Step(f"read the deployed jobs image from {job}", "gcloud", run=deployed_image),
        Step(
            "terraform plan -detailed-exitcode (0 no drift, 2 drift): read-only, no lock",
            "terraform",
            run=plan,
        ),
    ]


def runtime_config(version: str) -> dict[str, str]:
    """The bundle's ``config.json`` behind the load balancer: the API is on the same origin.

    The keys are those of ``eventpulse.api.web.build_runtime_config`` (what ``eventpulse serve``
    answers), which ``web/src/config.ts`` reads.
    """
    return {"api_base_url": "", "mode": "cloud", "version": version}


def package_version() -> str:
    found = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    return found.group(1) if found else "unknown"


CACHE_CONTROL = {
    # as eventpulse serve answers them (api/web.py): pages revalidate, hashed assets never change
    "pages": "no-cache",
    "assets": "public, max-age=31536000, immutable",
}


def plan_web_deploy(args: argparse.Namespace) -> list[Step]:
    env = load_env(args.env)
    require_init(env)
    dist = Path(args.dist)
    bucket = f"gs://{env.project}-{env.prefix}-web"
    gc = ["--project", env.project]

    def ensure_ready() -> None:
        if not (dist / "index.html").is_file():
            raise Failed(f"no dashboard bundle at {dist}/index.html: run make web, or pass WEB_DIST=")
        if not terraform_output(env, "web_url"):
            raise Failed("no load balancer in this environment: set domain in terraform.tfvars and deploy")

    def upload_config() -> None:
        body = json.dumps(runtime_config(package_version())).encode()
        cp = ["gcloud", "storage", "cp", "-", f"{bucket}/config.json"]
        run_step(
            Step("config.json", "gcloud", [*cp, f"--cache-control={CACHE_CONTROL['pages']}", *gc], stdin=body)
        )

    pages = [f"{bucket}/{page.name}" for page in sorted(dist.glob("*.html"))] or [f"{bucket}/index.html"]
    update = ["gcloud", "storage", "objects", "update"]
    return [
        Step(f"check that {relative(dist)}/index.html exists and the load balancer does", run=ensure_ready),
        Step(
            f"upload {relative(dist)} to {bucket} (objects no longer in the bundle are removed)",
            "gcloud",
            [
                "gcloud",
                "storage",
                "rsync",
                str(dist),
                bucket,
                "--recursive",
                "--delete-unmatched-destination-objects",
                *gc,
            ],
        ),
        Step(
            "let the pages revalidate (Cache-Control: no-cache)",
            "gcloud",
            [*update, *pages, f"--cache-control={CACHE_CONTROL['pages']}", *gc],
        ),
        Step(
            "let browsers keep the content-hashed assets",
            "gcloud",
            [*update, f"{bucket}/assets/**", f"--cache-control={CACHE_CONTROL['assets']}", *gc],
        ),
        Step(
            f"write {bucket}/config.json (api_base_url empty: the API is on the same origin)",
            "gcloud",
            run=upload_config,
        ),
    ]


PLANS: dict[str, tuple[str, Callable[[argparse.Namespace], list[Step]]]] = {
    "auth": ("auth", plan_auth),
    "init": ("init", plan_init),
    "infra": ("infra-gcp", plan_infra),
    "db-secret": ("db-secret", plan_db_secret),
    "task-token-secret": ("task-token-secret", plan_task_token),
    "ingest-token-secret": ("ingest-token-secret", plan_ingest_token),
    "edge-enroll-token-secret": ("edge-enroll-token-secret", plan_enroll_token),
    "check-secrets": ("check-secrets-gcp", plan_check_secrets),
    "deploy": ("deploy-gcp", plan_deploy),
    "verify": ("verify-gcp", plan_verify),
    "drift": ("drift-gcp", plan_drift),
    "web-deploy": ("web-deploy", plan_web_deploy),
}


# --- running ------------------------------------------------------------------------------------

INSTALL = {
    "gcloud": "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), then make auth",
    "terraform": "install Terraform 1.6 or newer (https://developer.hashicorp.com/terraform/install)",
}


def shown(argv: Sequence[str]) -> str:
    # No target passes a secret as an argument (values go through stdin, add_version); this is the
    # safety net should one ever do.
    return " ".join("--password=[REDACTED]" if a.startswith("--password=") else a for a in argv)


def capture(argv: list[str], *, allow_failure: bool = False) -> str:
    if shutil.which(argv[0]) is None:
        raise Failed(f"{argv[0]} is not installed: {INSTALL.get(argv[0], 'install it')}")
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode and not allow_failure:
        raise Failed(f"{shown(argv)} failed: {done.stderr.strip()[:500]}")
    return done.stdout if done.returncode == 0 else ""


def run_step(step: Step) -> None:
    if step.run is not None:
        step.run()
        return
    if not step.argv:
        return
    done = subprocess.run(step.argv, input=step.stdin, cwd=step.cwd or ROOT, check=False)
    if done.returncode:
        raise Failed(f"{shown(step.argv)} exited {done.returncode}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    parser.add_argument("command", choices=sorted(PLANS))
    parser.add_argument("--env", default="dev", help="infra/terraform/environments/<env> (default dev)")
    parser.add_argument("--project", help="init: the project id")
    parser.add_argument("--region", help="init: the region")
    parser.add_argument("--name", help="ingest-token-secret: who uses the token")
    parser.add_argument("--role", default="operator", help="ingest-token-secret: viewer, operator or admin")
    parser.add_argument("--dist", default=str(ROOT / "web" / "dist"), help="web-deploy: the built bundle")
    args = parser.parse_args(argv)
    DRY_RUN["on"] = args.dry_run
    target, plan = PLANS[args.command]
    try:
        steps = plan(args)
        print(f"make {target} will:")
        for number, step in enumerate(steps, start=1):
            detail = f"\n       $ {shown(step.argv)}" if step.argv else ""
            print(f"  {number}. {step.what}{detail}")
        if args.dry_run:
            print("(dry run: nothing was run)")
            return 0
        missing = sorted({s.tool for s in steps if s.tool and shutil.which(s.tool) is None})
        if missing:
            for tool in missing:
                print(f"make {target}: {tool} is not installed: {INSTALL[tool]}", file=sys.stderr)
            return 2
        for number, step in enumerate(steps, start=1):
            print(f"[{number}/{len(steps)}] {step.what}", flush=True)
            run_step(step)
    except Failed as exc:
        print(f"make {target}: {exc}", file=sys.stderr)
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())

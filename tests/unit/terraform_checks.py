"""Checks that the Terraform of infra/terraform agrees with the code; each returns its problems.

Each check takes one copy of the tree (``load_tree(root)``), so a test can run it on the real tree
(no problem) and on a mutated copy (the mutation is reported). What the code needs is declared here
once, per deployable unit, with the code that proves each need (``Needs.evidence``); Terraform's
role lists, settings and secrets must then be exactly what those needs imply.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventpulse.settings import PREFIX, Settings
from tests.conftest import REPO_ROOT
from tests.unit.terraform_support import (
    Module,
    block,
    entry_points,
    import_closure,
    module_file,
    refs,
)

Tree = dict[str, Module]

# --- what the code needs: capability -> roles and settings ---------------------------------------

STORAGE = {"raw_read", "raw_create", "raw_delete"}
ROLES: dict[str, dict[str, set[str]]] = {
    # capability -> {grant scope (the role list in Terraform): roles}
    "sign_urls": {"self_roles": {"roles/iam.serviceAccountTokenCreator"}},  # signBlob on its own account
    "enqueue": {
        "queue_roles": {"roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"},  # tasks.create + tasks.get
        "tasks_invoker_roles": {"roles/iam.serviceAccountUser"},  # actAs: attach the invoker's OIDC token
    },
    "devices": {"project_roles": {"roles/datastore.user"}},  # Firestore (conditioned on its database)
}
"""Storage capabilities map to one bucket role list: see ``storage_roles``."""


def storage_roles(capabilities: set[str]) -> set[str]:
    """The narrowest predefined roles on the raw bucket that cover the storage capabilities."""
    if "raw_delete" in capabilities:  # objects.delete: only objectUser (objectAdmin would add IAM)
        return {"roles/storage.objectUser"}
    roles = set()
    if "raw_read" in capabilities:
        roles.add("roles/storage.objectViewer")
    if "raw_create" in capabilities:
        roles.add("roles/storage.objectCreator")
    return roles


BASE_SETTINGS = {"MODE", "LANDING", "GCS_BUCKET", "GCP_PROJECT", "DATABASE_URL"}
"""What every service reads in cloud mode (bootstrap refuses cloud mode without DATABASE_URL)."""
CLOUD_SQL_SETTINGS = {"CLOUDSQL_INSTANCE", "CLOUDSQL_IP_TYPE", "CLOUDSQL_IAM_AUTH", "DB_ROLE"}
"""What every service that reads the database gets with Cloud SQL (bootstrap.build_store: the connector)."""
SETTINGS: dict[str, set[str]] = {
    "enqueue": {"QUEUE", "TASKS_LOCATION", "TASKS_QUEUE", "TASK_HANDLER_URL", "TASK_OIDC_SERVICE_ACCOUNT"},
    "receive_tasks": {"TASK_OIDC_SERVICE_ACCOUNT"},  # cloud/tasks.py is_oidc_trusted
    "devices": {"DEVICE_REGISTRY", "FIRESTORE_DATABASE"},
    "bearer_auth": {"API_TOKENS"},
    "task_auth": {"TASK_TOKEN_SHA256"},
    "enroll": {"EDGE_ENROLL_TOKEN_SHA256", "DEVICE_TOKEN_PEPPER"},
    "device_auth": {"DEVICE_TOKEN_PEPPER"},
    "behind_proxy": {"TRUSTED_PROXY_HOPS"},
}
SECRET_SETTINGS = {
    "DATABASE_URL",
    "API_TOKENS",
    "TASK_TOKEN_SHA256",
    "EDGE_ENROLL_TOKEN_SHA256",
    "DEVICE_TOKEN_PEPPER",
}
"""Settings that come only from Secret Manager (never a plain environment variable in Terraform)."""
NOT_SETTINGS = {"PYTHONPATH"}
"""Environment variables a job sets that are not EventPulse settings (the image's package path)."""


@dataclass(frozen=True)
class Needs:
    """What one deployable unit's code uses, with where (``module: text found in it``)."""

    capabilities: frozenset[str]
    evidence: dict[str, str] = field(default_factory=dict)


def needs(*capabilities: str, **evidence: str) -> Needs:
    return Needs(frozenset(capabilities), evidence)


FUNCTIONS: dict[str, Needs] = {
    "signed_url": needs(
        "raw_create",
        "sign_urls",
        "bearer_auth",
        raw_create="eventpulse.cloud.signed_url: signed_put_url(",  # the URL writes with the signer's rights
        sign_urls="eventpulse.cloud.signed_url: signed_put_url(",
        bearer_auth="main: ensure_bearer(",
    ),
    "gcs_finalize": needs(
        "raw_read",
        "raw_create",
        "raw_delete",
        "enqueue",
        raw_read="eventpulse.landing.objects: landing.hash_object(",
        raw_create="eventpulse.landing.objects: landing.copy_create_only(",
        raw_delete="eventpulse.landing.objects: landing.delete_generation(",
        enqueue="eventpulse.landing.register: services.queue.enqueue(",
    ),
    "process_task": needs(
        "raw_read",
        "receive_tasks",
        "devices",
        raw_read="eventpulse.pipeline.processor: landing.local_path(",
        receive_tasks="eventpulse.cloud.tasks: is_oidc_trusted(",
        devices="eventpulse.pipeline.device_alerts: services.devices.",
    ),
    "api": needs(
        "raw_read",
        "raw_create",
        "raw_delete",
        "sign_urls",
        "enqueue",
        "devices",
        "bearer_auth",
        "task_auth",
        "device_auth",
        "behind_proxy",
        raw_read="eventpulse.pipeline.dry_run: landing.local_path(",
        raw_create="eventpulse.landing.register: landing.put_stream(",
        raw_delete="eventpulse.jobs.prune: landing.delete(",
        sign_urls="eventpulse.landing.media: signed_get_url(",
        enqueue="eventpulse.landing.register: services.queue.enqueue(",
        devices="eventpulse.api.devices: current_services().devices.",
        bearer_auth="eventpulse.api.auth: settings.accepted_api_tokens",
        task_auth="eventpulse.api.auth: settings.task_token_sha256",
        device_auth="eventpulse.api.devices: device_token_pepper",
        behind_proxy="eventpulse.api.factory: trusted_proxy_hops",
    ),
    "edge_enroll": needs(
        "devices",
        "enroll",
        "behind_proxy",
        devices="eventpulse.api.edge: services.devices.",
        enroll="eventpulse.api.edge: settings.edge_enroll_token_sha256",
        behind_proxy="eventpulse.api.factory: trusted_proxy_hops",
    ),
    "edge_ingest": needs(
        "raw_read",
        "raw_create",
        "raw_delete",
        "sign_urls",
        "enqueue",
        "devices",
        "device_auth",
        "behind_proxy",
        raw_read="eventpulse.landing.media: self.landing.stat(",
        raw_create="eventpulse.landing.register: landing.put_stream(",
        raw_delete="eventpulse.landing.media: self.landing.delete_generation(",
        sign_urls="eventpulse.api.edge_uploads: landing.signed_put_url(",
        enqueue="eventpulse.landing.register: services.queue.enqueue(",
        devices="eventpulse.api.edge: current_services().devices.touch(",
        device_auth="eventpulse.api.auth: settings.device_token_pepper",
        behind_proxy="eventpulse.api.factory: trusted_proxy_hops",
    ),
}
JOBS: dict[str, Needs] = {
    "reclaim_stuck": needs("enqueue", enqueue="eventpulse.pipeline.reclaim: services.queue.enqueue("),
    # The daily run has no --include-raw: it deletes rows only (raw deletion goes through the api's
    # POST /internal/admin/prune, whose account may delete; RUNBOOK.md "Prune retention").
    "prune_retention": needs(),
    "replay": needs(
        "raw_read",
        "enqueue",
        raw_read="eventpulse.landing.register: services.landing.exists(",
        enqueue="eventpulse.landing.register: services.queue.enqueue(",
    ),
    "device_sweep": needs("devices", devices="eventpulse.jobs.device_sweep: services.devices."),
}


def same(expression: object, wanted: str) -> bool:
    """Two Terraform expressions are the same text, whitespace aside (python-hcl2 respaces them)."""
    return re.sub(r"\s+", "", str(expression)) == re.sub(r"\s+", "", wanted)


def entry_file(kind: str, name: str) -> Path:
    return REPO_ROOT / kind / name / "main.py"


# --- reading the functions and jobs modules -----------------------------------------------------


def units(tree: Tree) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{name: ("functions" | "jobs", its entry of local.functions / local.jobs)}``."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind in ("functions", "jobs"):
        for name, entry in tree[kind].locals.get(kind, {}).items():
            found[name] = (kind, entry)
    return found


def env_sets(tree: Tree) -> dict[str, dict[str, str]]:
    """The settings groups of the functions module, by name (local.env_sets -> local.<group>)."""
    functions = tree["functions"]
    sets: dict[str, dict[str, str]] = {}
    for name, expression in functions.locals.get("env_sets", {}).items():
        (local_name,) = refs(expression, "local")
        sets[name] = dict(functions.locals[local_name])
    return sets


def secret_settings(tree: Tree) -> dict[str, str]:
    """``{secret key: the environment variable it fills}`` from the secrets module."""
    return dict(tree["secrets"].locals.get("secrets", {}))


def environment(
    tree: Tree, kind: str, entry: dict[str, Any], name: str = "", *, cloud_sql: bool = False
) -> dict[str, str]:
    """The environment variables a unit gets: its settings groups, then its mounted secrets.

    ``cloud_sql`` reads the tree as the data module's Cloud SQL option makes it: each
    ``var.cloud_sql == null ? off : on`` value takes its ``on`` branch, the unit's IAM database user
    fills DATABASE_URL (``iam_database_env``) and the secrets ``mounted_secrets`` drops are not mounted.
    """
    env: dict[str, str] = {}
    sets = env_sets(tree)
    for group in entry.get("env_sets", []):
        for variable, value in sets.get(group, {}).items():
            value = cloud_sql_branch(value, cloud_sql)
            if value != "":  # an empty value leaves the setting unset (Settings.from_mapping)
                env[variable] = value
    if kind == "jobs":
        for var in ("PYTHONPATH",):
            if var in tree["jobs"].text:
                env[var] = "shared"
    module = tree[kind]
    for secret in entry.get("secrets", []):
        variable = secret_settings(tree).get(secret)
        dropped = (
            cloud_sql
            and secret == "database_url"
            and same(module.locals.get("mounted_secrets"), MOUNTED[kind])
        )
        if variable and not dropped:
            env[variable] = f"<secret {secret}>"
    if cloud_sql and name in database_users(tree, kind):
        url = str(module.locals.get("iam_database_env", ""))
        found = re.search(r'DATABASE_URL = "([^"]*)"', url)
        if found and "DATABASE_URL" in env:  # both mounted and plain: the platform refuses the unit
            env["DATABASE_URL"] = "<secret database_url, and a plain DATABASE_URL too>"
        elif found:
            env["DATABASE_URL"] = render_database_url(found.group(1), iam_user(tree, kind, name))
    return env


def cloud_sql_branch(value: str, on: bool) -> str:
    """``${var.cloud_sql == null ? "" : X}`` -> ``""`` (off) or X (on: a literal, or the expression)."""
    found = re.fullmatch(r'\$\{var\.cloud_sql == null \? ("[^"]*"|[\w.]+) : ("[^"]*"|[\w.]+)\}', str(value))
    if not found:
        return value
    chosen = found.group(2 if on else 1)
    return chosen[1:-1] if chosen.startswith('"') else "${" + chosen + "}"


MOUNTED = {
    kind: f"${{{{for name, {var} in local.{kind} : name => [for secret in {var}.secrets : secret "
    f'if secret != "database_url" || var.cloud_sql == null]}}}}'
    for kind, var in (("functions", "f"), ("jobs", "j"))
}
"""The secrets a unit mounts: all of its list, but the database_url secret only without Cloud SQL."""
ACCOUNT = {"functions": "function", "jobs": "job"}
"""The service account resource of each module (google_service_account.<name>)."""
CLOUD_SQL_ROLES = {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}
"""What the connector with IAM database auth needs: the instance's address and certificate, the login."""


def database_users(tree: Tree, kind: str) -> set[str]:
    """The units that get an IAM database user with Cloud SQL: those that read DATABASE_URL."""
    var = "f" if kind == "functions" else "j"
    wanted = (
        f"${{{{for name, {var} in local.{kind} : name => {var} "
        f'if contains({var}.secrets, "database_url") && var.cloud_sql != null}}}}'
    )
    if not same(tree[kind].locals.get("grants", {}).get("sql_user"), wanted):
        return set()
    return {
        name for name, entry in tree[kind].locals.get(kind, {}).items() if "database_url" in entry["secrets"]
    }


def iam_user(tree: Tree, kind: str, name: str) -> str:
    """The database user google_sql_user.iam names for a unit, from a sample account email."""
    email = f"ep-{name.replace('_', '-')}@p-1.iam.gserviceaccount.com"
    expression = str(tree[kind].resources.get(("google_sql_user", "iam"), {}).get("name", ""))
    wanted = (
        f'${{trimsuffix(google_service_account.{ACCOUNT[kind]}[each.key].email, ".gserviceaccount.com")}}'
    )
    return email.removesuffix(".gserviceaccount.com") if same(expression, wanted) else expression


def render_database_url(template: str, user: str) -> str:
    """The DATABASE_URL template of iam_database_env with the user and the data module's database."""
    from urllib.parse import quote

    return template.replace("${urlencode(user.name)}", quote(user, safe="")).replace(
        "${var.cloud_sql.database}", "eventpulse"
    )


def setting_name(variable: str) -> str | None:
    """``EVENTPULSE_GCS_BUCKET`` -> ``GCS_BUCKET``; ``DATABASE_URL`` -> itself; else None."""
    if variable == "DATABASE_URL":
        return variable
    return variable[len(PREFIX) :] if variable.startswith(PREFIX) else None


FIELDS = {f.name.upper(): f for f in dataclasses.fields(Settings)}


def placeholder(setting: str, value: str) -> str:
    """A stand-in for a value Terraform computes, of the type the setting parses."""
    if "${" not in value and not value.startswith("<secret"):
        return value
    kind = str(FIELDS[setting].type) if setting in FIELDS else "str"
    if setting == "DATABASE_URL":
        return "postgresql://eventpulse@10.0.0.3:5432/eventpulse"
    if setting == "CLOUDSQL_INSTANCE":
        return "p-1:europe-west1:ep-dev-postgres"
    if setting == "API_TOKENS":
        return "ci:operator:" + "a" * 64
    if kind.startswith("tuple"):
        return "b" * 64
    if setting == "TASK_HANDLER_URL":
        return "https://ep-process-task-abc.a.run.app"
    if setting == "DEVICE_REGISTRY":
        return "firestore"
    return "1" if kind in ("int", "float") else "computed-by-terraform"


# --- checks ---------------------------------------------------------------------------------------


def check_functions(tree: Tree) -> list[str]:
    """Every folder of functions/ is deployed with its entry point, trigger, runtime and bundle."""
    problems: list[str] = []
    module = tree["functions"]
    declared = module.locals.get("functions", {})
    folders = {p.parent.name for p in (REPO_ROOT / "functions").glob("*/main.py")}
    if set(declared) != folders:
        problems.append(f"local.functions {sorted(declared)} != functions/ folders {sorted(folders)}")
    from infra.bundle import DIRECT  # the bundles infra/bundle.py builds

    if set(DIRECT) != folders:
        problems.append(f"infra/bundle.py bundles {sorted(DIRECT)}, functions/ has {sorted(folders)}")
    triggers = {"http": "http", "storage_finalized": "cloud_event"}
    for name, entry in declared.items():
        points = entry_points(entry_file("functions", name)) if name in folders else {}
        point = entry.get("entry_point")
        if point not in points:
            problems.append(
                f"{name}: entry_point {point!r} is not a functions_framework function {sorted(points)}"
            )
        elif points[point] != triggers.get(entry.get("trigger", ""), "?"):
            problems.append(f"{name}: trigger {entry.get('trigger')!r} but main.py uses @{points[point]}")
    runtime = module.locals.get("runtime", "")
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    minimum = re.search(r'requires-python = ">=3\.(\d+)"', pyproject)
    if not minimum or runtime != f"python3{minimum.group(1)}":
        problems.append(f"runtime {runtime!r} is not the oldest Python pyproject allows")
    problems += check_function_resources(module, set(declared))
    return problems


def check_function_resources(module: Module, names: set[str]) -> list[str]:
    problems: list[str] = []
    bundle = module.resource("google_storage_bucket_object", "bundle")
    if bundle.get("for_each") != "${local.functions}":
        problems.append("google_storage_bucket_object.bundle must have one object per local.functions entry")
    if bundle.get("source") != "${var.bundle_dir}/${each.key}.zip":
        problems.append(f"bundle source {bundle.get('source')!r} is not infra/bundle.py's <name>.zip")
    callers = module.locals.get("callers", "")
    if not same(callers, '${{for name, f in local.functions : name => f if name != "process_task"}}'):
        problems.append(f"local.callers must be every function but process_task, not {callers!r}")
    shapes = {
        "processor": ('local.functions["process_task"].entry_point', 'bundle["process_task"].name'),
        "function": ("each.value.entry_point", "bundle[each.key].name"),
    }
    for resource, (entry_expression, object_expression) in shapes.items():
        body = module.resource("google_cloudfunctions2_function", resource)
        build = block(body["build_config"])
        if build.get("runtime") != "${local.runtime}":
            problems.append(f"{resource}: runtime is not local.runtime")
        if build.get("entry_point") != "${" + entry_expression + "}":
            problems.append(
                f"{resource}: entry_point is {build.get('entry_point')!r}, not {entry_expression}"
            )
        source = block(block(build["source"])["storage_source"])
        if object_expression not in str(source.get("object")):
            problems.append(f"{resource}: source object is not its own bundle ({source.get('object')!r})")
    processor = block(module.resource("google_cloudfunctions2_function", "processor")["service_config"])
    wanted = module.locals["ingress"][module.locals["functions"]["process_task"]["ingress"]]
    if processor.get("ingress_settings") != wanted:
        problems.append(f"process_task's ingress is {processor.get('ingress_settings')!r}, not {wanted!r}")
    problems += check_function_environment(module)
    finalize = [
        n for n, e in module.locals.get("functions", {}).items() if e.get("trigger") == "storage_finalized"
    ]
    trigger = block(
        block(module.resource("google_cloudfunctions2_function", "function")["dynamic"])["event_trigger"]
    )
    content = block(trigger["content"])
    if content.get("event_type") != "google.cloud.storage.object.v1.finalized":
        problems.append("the storage trigger does not listen to object finalize")
    if content.get("retry_policy") != "RETRY_POLICY_RETRY":
        problems.append(
            "the storage trigger must retry on failure (gcs_finalize raises only on retryable errors)"
        )
    if block(content["event_filters"]).get("value") != "${var.raw_bucket}":
        problems.append("the storage trigger must filter on the raw bucket")
    if finalize != ["gcs_finalize"]:
        problems.append(f"exactly gcs_finalize takes the storage trigger, not {finalize}")
    return problems


def check_function_environment(module: Module) -> list[str]:
    """The resources take their settings and secrets from the map (process_task's spelled out)."""
    problems = []
    groups = {refs(expression, "local")[0]: name for name, expression in module.locals["env_sets"].items()}
    processor = block(module.resource("google_cloudfunctions2_function", "processor")["service_config"])
    spelled = [
        groups.get(local_name, local_name) for local_name in refs(processor["environment_variables"], "local")
    ]
    declared = [*module.locals["functions"]["process_task"]["env_sets"], "iam_database_env"]
    if spelled != declared or 'lookup(local.iam_database_env, "process_task", {})' not in str(
        processor["environment_variables"]
    ):
        problems.append(
            f"process_task gets settings groups {spelled}, local.functions says {declared[:-1]} "
            "(then its own DATABASE_URL of iam_database_env)"
        )
    function = block(module.resource("google_cloudfunctions2_function", "function")["service_config"])
    if not same(
        function.get("environment_variables"),
        "${{for k, v in merge(merge([for group in each.value.env_sets : local.env_sets[group]]...), "
        'lookup(local.iam_database_env, each.key, {})) : k => v if v != ""}}',
    ):
        problems.append(
            "each function's environment must be the merge of its env_sets (and its IAM DATABASE_URL)"
        )
    for name, config in (("processor", processor), ("function", function)):
        mounts = block(block(config["dynamic"])["secret_environment_variables"])
        source = (
            'local.mounted_secrets["process_task"]'
            if name == "processor"
            else "local.mounted_secrets[each.key]"
        )
        if not same(mounts.get("for_each"), "${toset(" + source + ")}"):
            problems.append(f"{name}: secrets must be mounted from {source}, not {mounts.get('for_each')!r}")
    return problems


def check_settings(tree: Tree) -> list[str]:
    """Each unit gets every setting its code requires in cloud mode, and the settings parse."""
    problems: list[str] = []
    for name, (kind, entry) in units(tree).items():
        need = (FUNCTIONS if kind == "functions" else JOBS).get(name)
        if need is None:
            problems.append(f"{kind}/{name} has no declared needs in tests/unit/terraform_checks.py")
            continue
        for cloud_sql in (False, True):
            env = environment(tree, kind, entry, name, cloud_sql=cloud_sql)
            required = set(BASE_SETTINGS) | (CLOUD_SQL_SETTINGS if cloud_sql else set())
            for capability in need.capabilities:
                required |= SETTINGS.get(capability, set())
            present = {setting_name(v) for v in env} - {None}
            mode = "with Cloud SQL, " if cloud_sql else ""
            for variable in sorted(env):
                if setting_name(variable) is None and variable not in NOT_SETTINGS:
                    problems.append(f"{name}: {variable} is not an EventPulse setting")
                elif (
                    (setting := setting_name(variable))
                    and setting not in FIELDS
                    and setting != "DATABASE_URL"
                ):
                    problems.append(f"{name}: {variable} names no field of Settings")
            for setting in sorted(required - present):
                problems.append(
                    f"{name}: {mode}the code needs {PREFIX if setting != 'DATABASE_URL' else ''}{setting}"
                )
            problems += check_settings_parse(name, env, need, cloud_sql=cloud_sql)
    return sorted(set(problems), key=problems.index) + check_settings_read(tree)


CLOUD_VALUED = {
    "database_url",
    "gcp_project",
    "gcs_bucket",
    "device_registry",
    "firestore_database",
    "tasks_location",
    "tasks_queue",
    "task_handler_url",
    "task_oidc_service_account",
}
"""Fields whose default is a local value (a project, a bucket, a queue): code that reads one must get it."""
ADAPTERS = {
    "": ("eventpulse.runtime", "eventpulse.bootstrap", "eventpulse.adapters.landing_gcs"),
    "enqueue": ("eventpulse.adapters.queue_cloud_tasks",),
    "devices": ("eventpulse.adapters.firestore.client",),
}
"""What the composition root builds for a unit (the import closure stops at it): always, and per need."""


def settings_read(kind: str, name: str, need: Needs) -> dict[str, str]:
    """``{field: a module that reads it}`` for the CLOUD_VALUED fields the unit's code reads."""
    modules = set(import_closure(entry_file(kind, name)))
    for capability in ("", *need.capabilities):
        modules.update(ADAPTERS.get(capability, ()))
    read: dict[str, str] = {}
    for module in sorted(modules):
        path = module_file(module)
        source = path.read_text(encoding="utf-8") if path else ""
        for field_name in re.findall(r"\bsettings\.(\w+)", source):
            if field_name in CLOUD_VALUED:
                read.setdefault(field_name, module)
    return read


def check_settings_read(tree: Tree) -> list[str]:
    """Derived from the code: every CLOUD_VALUED field a unit's modules read is set on it."""
    problems = []
    for name, (kind, entry) in units(tree).items():
        need = (FUNCTIONS if kind == "functions" else JOBS).get(name, Needs(frozenset()))
        present = {setting_name(v) for v in environment(tree, kind, entry)}
        for field_name, module in sorted(settings_read(kind, name, need).items()):
            setting = "DATABASE_URL" if field_name == "database_url" else field_name.upper()
            if setting not in present:
                problems.append(f"{name}: {module} reads settings.{field_name}, which Terraform does not set")
    return problems


def check_settings_parse(
    name: str, env: dict[str, str], need: Needs, *, cloud_sql: bool = False
) -> list[str]:
    from eventpulse.cloud.tasks import is_oidc_trusted
    from eventpulse.settings import SettingsError

    mapping = {}
    for variable, value in env.items():
        setting = setting_name(variable)
        if setting is not None:
            mapping[variable] = placeholder(setting, value)
    try:
        settings = Settings.from_mapping(mapping)
    except SettingsError as exc:
        return [f"{name}: its settings do not load: {exc}"]
    problems = []
    if settings.mode != "cloud" or settings.landing != "gcs":
        problems.append(f"{name}: mode {settings.mode!r} / landing {settings.landing!r}, not cloud / gcs")
    if "enqueue" in need.capabilities and settings.queue != "cloud_tasks":
        problems.append(f"{name}: enqueues on the {settings.queue!r} queue, not cloud_tasks")
    if "receive_tasks" in need.capabilities and not is_oidc_trusted(settings):
        problems.append(f"{name}: would refuse Cloud Tasks' OIDC token (is_oidc_trusted is false)")
    return problems + check_database_login(name, settings, cloud_sql)


def check_database_login(name: str, settings: Settings, cloud_sql: bool) -> list[str]:
    """How the unit's settings reach the database: the connector as its IAM user (Cloud SQL, through
    the private IP, the instance's only address), or DATABASE_URL's host (a database of your own)."""
    from sqlalchemy import make_url

    from eventpulse.adapters.postgres.engine import normalize_database_url
    from infra.gcp import DATABASE_ROLE

    if not cloud_sql:
        if settings.cloudsql_instance is not None or settings.db_role is not None:
            return [f"{name}: without Cloud SQL it still connects through the connector (or as a role)"]
        return []
    if settings.cloudsql_instance is None:
        return [f"{name}: with Cloud SQL it does not connect through the connector (CLOUDSQL_INSTANCE)"]
    problems = []
    if not settings.cloudsql_iam_auth or settings.cloudsql_ip_type != "private":
        problems.append(f"{name}: the connector must use IAM auth over the private IP")
    if settings.db_role != DATABASE_ROLE:
        problems.append(
            f"{name}: its sessions take role {settings.db_role!r}, not {DATABASE_ROLE!r}, the role make "
            "deploy-gcp gives every IAM database user (so that all of them own the schema together)"
        )
    url = make_url(normalize_database_url(settings.database_url or ""))
    user = f"ep-{name.replace('_', '-')}@p-1.iam"
    if url.username != user or url.password is not None or url.database != "eventpulse":
        problems.append(
            f"{name}: with Cloud SQL DATABASE_URL must name its IAM user {user!r} and the database, "
            f"without a password (the engine reads user {url.username!r}, database {url.database!r})"
        )
    return problems


def check_secrets(tree: Tree) -> list[str]:
    """Every mounted secret exists, fills a secret setting, and is mounted exactly where it is read."""
    problems: list[str] = []
    secrets = secret_settings(tree)
    for key, variable in secrets.items():
        if setting_name(variable) not in SECRET_SETTINGS:
            problems.append(f"secret {key} fills {variable}, which is not one of the secret settings")
    for name, (kind, entry) in units(tree).items():
        need = (FUNCTIONS if kind == "functions" else JOBS).get(name, Needs(frozenset()))
        mounted = set()
        for secret in entry.get("secrets", []):
            if secret not in secrets:
                problems.append(f"{name}: mounts secret {secret!r}, which the secrets module does not create")
            else:
                mounted.add(setting_name(secrets[secret]))
        required = {"DATABASE_URL"}
        for capability in need.capabilities:
            required |= SETTINGS.get(capability, set()) & SECRET_SETTINGS
        for setting in sorted(required - mounted):
            problems.append(f"{name}: needs the secret setting {setting} mounted")
        for setting in sorted(mounted - required):
            problems.append(f"{name}: mounts {setting}, which its code does not read")
        for group in entry.get("env_sets", []):
            for variable in env_sets(tree).get(group, {}):
                if setting_name(variable) in SECRET_SETTINGS:
                    problems.append(f"{name}: {variable} is a plain variable of group {group}; use a secret")
    for kind in ("functions", "jobs"):
        grants = str(tree[kind].locals.get("grants", {}).get("secret", ""))
        if "local.mounted_secrets[name]" not in grants:
            problems.append(f"{kind}: secret access must be granted from the mounted secrets list")
    return problems


def check_roles(tree: Tree) -> list[str]:
    """Each unit's account holds exactly the roles its capabilities imply, on the narrowest resource."""
    problems: list[str] = []
    scopes = ("raw_bucket_roles", "queue_roles", "self_roles", "tasks_invoker_roles", "project_roles")
    for name, (kind, entry) in units(tree).items():
        need = (FUNCTIONS if kind == "functions" else JOBS).get(name, Needs(frozenset()))
        expected: dict[str, set[str]] = {scope: set() for scope in scopes}
        expected["raw_bucket_roles"] = storage_roles(set(need.capabilities) & STORAGE)
        for capability in need.capabilities:
            for scope, roles in ROLES.get(capability, {}).items():
                expected[scope] |= roles
        for scope in scopes:
            if scope == "self_roles" and kind == "jobs":
                continue
            held = set(entry.get(scope, []))
            for role in sorted(held - expected[scope]):
                problems.append(f"{name}: holds {role} ({scope}) that its code does not use")
            for role in sorted(expected[scope] - held):
                problems.append(f"{name}: lacks {role} ({scope}) that its code uses")
        args = entry.get("args", [])
        if (
            name == "prune_retention"
            and "--include-raw" in str(args)
            and "raw_delete" not in need.capabilities
        ):
            problems.append("prune_retention runs with --include-raw: it needs raw_delete")
    problems += check_no_broad_roles(tree)
    return problems


BROAD = re.compile(r'"(roles/(owner|editor|viewer|[\w.]*\.admin|[\w.]*Admin|iam\.securityAdmin))"')
PROJECT_ROLES = {"roles/datastore.user", "roles/eventarc.eventReceiver", "roles/pubsub.publisher"}


def check_no_broad_roles(tree: Tree) -> list[str]:
    problems = []
    for name, module in tree.items():
        for found in BROAD.finditer(module.text):
            problems.append(f"{name}: grants the broad role {found.group(1)}")
        for resource, body in module.of_kind("google_project_iam_member").items():
            role = body.get("role", "")
            if not role.startswith("${") and role not in PROJECT_ROLES:
                problems.append(f"{name}: project-wide {role} ({resource}); bind it on the resource")
    for kind in ("functions", "jobs"):
        for entry in tree[kind].locals.get(kind, {}).values():
            for role in entry.get("project_roles", []):
                if role not in PROJECT_ROLES:
                    problems.append(f"{kind}: project-wide {role}; bind it on the resource")
    return problems


def check_evidence() -> list[str]:
    """Each declared need points at code the unit's entry point reaches and that does what is said."""
    problems = []
    for kind, table in (("functions", FUNCTIONS), ("jobs", JOBS)):
        for name, need in table.items():
            entry = entry_file(kind, name)
            closure = import_closure(entry)
            for capability in need.capabilities:
                where = need.evidence.get(capability)
                if where is None:
                    if capability not in ("database",):
                        problems.append(f"{name}: {capability} has no evidence")
                    continue
                module, _, text = where.partition(": ")
                path = entry if module == "main" else module_file(module)
                if module != "main" and module not in closure:
                    problems.append(
                        f"{name}: {capability}: {module} is not reached from {kind}/{name}/main.py"
                    )
                elif path is None or text not in path.read_text(encoding="utf-8"):
                    problems.append(f"{name}: {capability}: {text!r} not found in {module}")
    return problems


def check_schedules(tree: Tree) -> list[str]:
    """Every Cloud Run job runs a jobs/ folder; every Scheduler job starts an existing job."""
    problems: list[str] = []
    module = tree["jobs"]
    jobs = module.locals.get("jobs", {})
    folders = {p.parent.name for p in (REPO_ROOT / "jobs").glob("*/main.py")}
    if set(jobs) != folders:
        problems.append(f"local.jobs {sorted(jobs)} != jobs/ folders {sorted(folders)}")
    job = module.resource("google_cloud_run_v2_job", "job")
    container = block(block(block(job["template"])["template"])["containers"])
    if not same(container.get("args"), '${concat(["jobs/${each.key}/main.py"], each.value.args)}'):
        problems.append(f"the job's container must run jobs/<name>/main.py, not {container.get('args')!r}")
    if not same(
        module.locals.get("scheduled"), "${{for name, j in local.jobs : name => j if j.schedule != null}}"
    ):
        problems.append("local.scheduled must be the jobs of local.jobs that have a schedule")
    sources = [str(d.get("env", {}).get("for_each")) for d in container.get("dynamic", [])]
    for wanted in (
        "${{for k, v in merge(merge([for group in each.value.env_sets : var.env_sets[group]]...), "
        'lookup(local.iam_database_env, each.key, {})) : k => v if v != ""}}',
        "${toset(local.mounted_secrets[each.key])}",
    ):
        if not any(same(s, wanted) for s in sources):
            problems.append(f"the job's env must come from {wanted}")
    schedule = module.resource("google_cloud_scheduler_job", "schedule")
    if schedule.get("for_each") != "${local.scheduled}":
        problems.append("google_cloud_scheduler_job.schedule must iterate local.scheduled")
    uri = block(schedule["http_target"]).get("uri", "")
    if "google_cloud_run_v2_job.job[each.key].name}:run" not in uri:
        problems.append(f"a Scheduler job must run its own Cloud Run job, not {uri!r}")
    for name, entry in jobs.items():
        for flag in [a for a in entry.get("args", []) if isinstance(a, str) and a.startswith("--")]:
            if name in folders and f'"{flag}"' not in entry_file("jobs", name).read_text(encoding="utf-8"):
                problems.append(f"{name}: jobs/{name}/main.py has no option {flag}")
    wanted = {
        "reclaim_stuck": r"\*/([1-9]|10) \* \* \* \*",
        "prune_retention": r"\d+ \d+ \* \* \*",
        "replay": None,
    }
    for name, pattern in wanted.items():
        got = jobs.get(name, {}).get("schedule")
        if pattern is None and got is not None:
            problems.append(f"{name} runs on demand, not on schedule {got!r}")
        elif pattern is not None and not (isinstance(got, str) and re.fullmatch(pattern, got)):
            problems.append(f"{name}: schedule {got!r} does not match {pattern}")
    return problems


def check_queue(tree: Tree) -> list[str]:
    """The queue's retry config is the code's RETRY_CONFIG; process_task outlives a dispatch."""
    from eventpulse.adapters.queue_cloud_tasks import RETRY_CONFIG, dispatch_deadline

    problems = []
    queue = tree["tasks"].resource("google_cloud_tasks_queue", "ingest")
    retry = block(queue["retry_config"])
    for key, value in RETRY_CONFIG.items():
        if retry.get(key) != value:
            problems.append(f"queue retry_config.{key} is {retry.get(key)!r}; the code expects {value!r}")
    if "rate_limits" not in queue:
        problems.append("the queue has no rate limits (max dispatch rate)")
    functions = tree["functions"]
    timeout_default = functions.variables.get("process_timeout_seconds", {}).get("default", 0)
    process = functions.locals["functions"]["process_task"]
    if process.get("timeout_seconds") != "${var.process_timeout_seconds}":
        problems.append("process_task's timeout must be var.process_timeout_seconds")
    if (
        functions.locals["queue_env"].get("EVENTPULSE_JOB_TIMEOUT_SECONDS")
        != "${tostring(var.process_timeout_seconds)}"
    ):
        problems.append(
            "EVENTPULSE_JOB_TIMEOUT_SECONDS must be process_task's timeout (the dispatch deadline)"
        )
    if dispatch_deadline(int(timeout_default)) > int(timeout_default):
        problems.append("the dispatch deadline would outlast process_task's timeout")
    return problems


def check_storage(tree: Tree) -> list[str]:
    """The raw bucket: versioned, uniform access, no public access, no lifecycle that deletes raw data."""
    problems = []
    raw = tree["storage"].resource("google_storage_bucket", "raw")
    if raw.get("uniform_bucket_level_access") is not True:
        problems.append("raw bucket: uniform_bucket_level_access must be true")
    if raw.get("public_access_prevention") != "enforced":
        problems.append("raw bucket: public_access_prevention must be enforced")
    if block(raw.get("versioning", [{}])).get("enabled") is not True:
        problems.append("raw bucket: versioning must be enabled")
    protected = (Settings().raw_prefix, "media/")
    uploads = tree["storage"].locals.get("uploads_prefix")
    for rule in raw.get("lifecycle_rule", []):
        if block(rule["action"]).get("type") != "Delete":
            continue
        prefixes = block(rule["condition"]).get("matches_prefix", [])
        prefixes = [uploads if p == "${local.uploads_prefix}" else p for p in prefixes]
        if not prefixes or any(str(p).startswith(protected) or not p for p in prefixes):
            problems.append(f"raw bucket: a lifecycle rule deletes raw data (prefixes {prefixes})")
    from eventpulse.landing.bucket import UPLOADS_PREFIX

    if uploads != UPLOADS_PREFIX:
        problems.append(f"uploads prefix {uploads!r} is not the code's {UPLOADS_PREFIX!r}")
    return problems + check_upload_cors(tree, raw)


def check_upload_cors(tree: Tree, raw: dict[str, Any]) -> list[str]:
    """The raw bucket lets the dashboard's origin only PUT signed uploads with every signed header."""
    from eventpulse.cloud.signed_url import SIGNED_UPLOAD_HEADERS

    problems = []
    rules = [d["cors"] for d in raw.get("dynamic", []) if "cors" in d]
    if len(rules) != 1:
        return ["raw bucket: one dynamic cors block (from var.cors_origins) is needed for browser uploads"]
    rule = block(rules[0]["content"])
    if "var.cors_origins" not in str(rules[0].get("for_each")) or rule.get("origin") != "${cors.value}":
        problems.append(f"raw bucket: the cors origins must be var.cors_origins, not {rule.get('origin')}")
    if rule.get("method") != ["PUT"]:
        problems.append(f"raw bucket: cors methods must be only PUT, not {rule.get('method')}")
    headers = tree["storage"].locals.get("signed_upload_headers")
    if rule.get("response_header") != "${local.signed_upload_headers}" or headers is None:
        problems.append("raw bucket: cors response_header must be local.signed_upload_headers")
    elif sorted(headers) != sorted(SIGNED_UPLOAD_HEADERS):
        problems.append(
            f"raw bucket: cors headers {headers} are not the signed ones {list(SIGNED_UPLOAD_HEADERS)}"
        )
    for env in ("env/dev", "env/prod"):
        origins = str(tree[env].modules.get("storage", {}).get("cors_origins"))
        if "https://${var.domain}" not in origins or "*" in origins.replace("${", ""):
            problems.append(
                f"{env}: storage cors_origins must be the dashboard's https://<domain>, not {origins}"
            )
    return problems


# Sample lines as the code formats them (the format string must be in the named module).
LOG_LINES = {
    "failed_ingestions": (
        "eventpulse.cloud.tasks",
        '"task %s (retry %s): ingestion %s -> HTTP %s %s"',
        "task t1 (retry 0): ingestion 1b4e -> HTTP 200 FAILED_QUALITY",
    ),
    "processing_errors": (
        "eventpulse.pipeline.processor",
        '"ingestion %s attempt %s of %s failed (%s): %s"',
        "ingestion 1b4e attempt 2 of 3 failed (FAILED_EXCEPTION): OperationalError: gone",
    ),
    "quarantined_files": (
        "eventpulse.cloud.tasks",
        '"task %s (retry %s): ingestion %s -> HTTP %s %s"',
        "task t1 (retry 0): ingestion 1b4e -> HTTP 200 QUARANTINED",
    ),
    "quarantined_loads": (
        "eventpulse.pipeline.loading",
        '"ingestion %s loaded %d rows into %s (%d held back); timings %s"',
        "ingestion 1b4e loaded 90 rows into parcels (10 held back); timings {}",
    ),
    "quarantined_rows": (
        "eventpulse.pipeline.loading",
        '"ingestion %s loaded %d rows into %s (%d held back); timings %s"',
        "ingestion 1b4e loaded 90 rows into parcels (10 held back); timings {}",
    ),
    "push_failures": (
        "eventpulse.pipeline.lineage_push",
        '"lineage %s event of ingestion %s not pushed (attempt %d), retrying in %.0f s: %s"',
        "lineage START event of ingestion 1b4e not pushed (attempt 1), retrying in 30 s: ConnectError",
    ),
    "offline_devices": (
        "eventpulse.jobs.device_sweep",
        '"device sweep: %s"',
        "device sweep: devices: 4 checked, 1 offline; silent alerts: 1 raised, 0 resolved; "
        "commands expired: 0",
    ),
    "stuck_work": ("jobs/reclaim_stuck/main.py", '("stale claim", report.stale)', "1b4e  stale claim"),
}


def filter_regexes(filter_text: str) -> tuple[str | None, list[str]]:
    """The logger a Logging filter names and the regexes (=~) it applies, unescaped to RE2."""
    logger = re.search(r'jsonPayload\.logger="([^"]+)"', filter_text)
    regexes = [r.replace("\\\\", "\\") for r in re.findall(r'=~"((?:[^"\\]|\\.)*)"', filter_text)]
    return (logger.group(1) if logger else None), regexes


def check_monitoring(tree: Tree) -> list[str]:
    """Each log-based metric matches a line the code writes; alerts and the dashboard use real metrics."""
    problems: list[str] = []
    module = tree["monitoring"]
    metrics = {**module.locals.get("counters", {}), **module.locals.get("distributions", {})}
    for name, (source, fmt, sample) in LOG_LINES.items():
        if name not in metrics:
            problems.append(f"no log-based metric {name}")
            continue
        path = REPO_ROOT / source if source.endswith(".py") else module_file(source)
        if path is None or fmt not in path.read_text(encoding="utf-8"):
            problems.append(f"{name}: {source} no longer writes {fmt}")
        text = metrics[name]["filter"].replace("${local.functions}", "").replace("${local.jobs}", "")
        logger, regexes = filter_regexes(text)
        if logger is not None and logger != source:
            problems.append(f"{name}: the filter names logger {logger!r}; the line comes from {source}")
        for regex in regexes:
            if not re.search(regex, sample):
                problems.append(f"{name}: the filter's regex {regex!r} does not match {sample!r}")
        value = metrics[name].get("value")
        if value:
            extract = re.search(r'REGEXP_EXTRACT\([^,]+, "((?:[^"\\]|\\.)*)"\)', value)
            if not extract or not re.search(extract.group(1).replace("\\\\", "\\"), sample):
                problems.append(f"{name}: its value extractor does not find a number in {sample!r}")
    for name in metrics:
        if name not in LOG_LINES:
            problems.append(f"metric {name} has no sample line in LOG_LINES")
    for alert, spec in module.locals.get("alerts", {}).items():
        if spec.get("metric") not in metrics:
            problems.append(f"alert {alert} watches {spec.get('metric')!r}, which is not a metric")
        path, _, anchor = str(spec.get("runbook", "")).partition("#")
        doc = REPO_ROOT / path
        if not doc.is_file():
            problems.append(f"alert {alert}: runbook {path} does not exist")
        elif anchor and anchor not in anchors_of(doc):
            problems.append(f"alert {alert}: {path} has no heading #{anchor}")
    wanted = {"failed_ingestions", "stuck_work", "quarantined_rows", "offline_devices", "push_failures"}
    missing = wanted - set(module.locals.get("alerts", {}))
    if missing:
        problems.append(f"no alert policy for {sorted(missing)}")
    dashboard = json.loads((module.path / "dashboard.json").read_text(encoding="utf-8").replace("${", "{"))
    used = set(re.findall(r"logging\.googleapis\.com/user/\{metric\}_(\w+)", json.dumps(dashboard)))
    for name in sorted(used - set(metrics)):
        problems.append(f"the dashboard charts {name}, which is not a metric")
    for name in sorted(set(metrics) - used):
        problems.append(f"the dashboard has no chart of {name}")
    return problems


def anchors_of(doc: Path) -> set[str]:
    anchors = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^#{1,6}\s+(.*)$", line)
        if found:
            title = re.sub(r"[^\w\- ]", "", found.group(1).strip().lower().replace("`", ""))
            anchors.add(title.replace(" ", "-"))
    return anchors


def check_wiring(tree: Tree) -> list[str]:
    """The environments pass each module the outputs the settings name (bucket, queue, secrets)."""
    problems = []
    wanted = {
        "functions": {
            "raw_bucket": "${module.storage.raw_bucket}",
            "tasks_queue": "${module.tasks.queue_name}",
            "tasks_location": "${module.tasks.location}",
            "tasks_invoker_email": "${module.tasks.invoker_email}",
            "secrets": "${module.secrets.secrets}",
            "firestore_database": "${module.data.firestore_database}",
            "cloud_sql": "${module.data.cloud_sql}",
            "vpc_connector": "${module.data.vpc_connector}",
        },
        "jobs": {
            "raw_bucket": "${module.storage.raw_bucket}",
            "tasks_queue": "${module.tasks.queue_name}",
            "env_sets": "${module.functions.env_sets}",
            "secrets": "${module.secrets.secrets}",
            "cloud_sql": "${module.data.cloud_sql}",
            "vpc_connector": "${module.data.vpc_connector}",
        },
    }
    for env in ("env/dev", "env/prod"):
        for module, arguments in wanted.items():
            call = tree[env].modules.get(module, {})
            for argument, expression in arguments.items():
                if call.get(argument) != expression:
                    problems.append(f"{env}: module {module} gets {argument} = {call.get(argument)!r}")
    return problems


def check_web(tree: Tree) -> list[str]:
    """The load balancer sends each edge path to the function that serves it (api/edge_app.py)."""
    from eventpulse.api.edge_app import EDGE_PREFIX, ENROLL_PATH

    problems = []
    url_map = tree["web"].resource("google_compute_url_map", "web")
    rules = block(url_map["path_matcher"]).get("path_rule", [])
    routes = {}
    for rule in rules:
        for path in rule.get("paths", []):
            found = re.search(r'function\["(\w+)"\]', rule.get("service", ""))
            routes[path] = found.group(1) if found else "web"
    if routes.get(ENROLL_PATH) != "edge_enroll":
        problems.append(f"{ENROLL_PATH} must go to edge_enroll, not {routes.get(ENROLL_PATH)}")
    if routes.get(f"{EDGE_PREFIX}/*") != "edge_ingest":
        problems.append(f"{EDGE_PREFIX}/* must go to edge_ingest")
    for path in ("/health", "/readyz", "/api/*"):
        if routes.get(path) != "api":
            problems.append(f"{path} must go to the api function")
    problems += check_dashboard(tree, rules)
    return problems


def check_dashboard(tree: Tree, rules: list[dict[str, Any]]) -> list[str]:
    """The bucket serves the dashboard as eventpulse serve does: its security headers, /api/docs."""
    from eventpulse.api.web import API_DOCS, API_DOCS_PATHS, build_security_headers

    problems = []
    bucket = tree["web"].resource("google_compute_backend_bucket", "web")
    cloud = Settings(landing="gcs", gcs_bucket="the-raw-bucket")  # the API on this origin, Google's storage
    wanted = [f"{k}: {v}" for k, v in build_security_headers(cloud).items()]
    if bucket.get("custom_response_headers") != wanted:
        problems.append(f"the web bucket's headers {bucket.get('custom_response_headers')} are not {wanted}")
    docs = [r for r in rules if set(r.get("paths", [])) & API_DOCS_PATHS]
    if not docs or set(docs[0]["paths"]) != API_DOCS_PATHS or "backend_bucket.web" not in docs[0]["service"]:
        problems.append(f"{sorted(API_DOCS_PATHS)} must go to the web bucket")
    else:
        rewrite = block(block(block(docs[0]["route_action"])["url_rewrite"]))
        if rewrite.get("path_prefix_rewrite") != f"/{API_DOCS}":
            problems.append(f"/api/docs must be rewritten to /{API_DOCS}, not {rewrite}")
    return problems


def without_comments(text: str) -> str:
    return re.sub(r"^\s*#.*$", "", text, flags=re.MULTILINE)


def check_references(tree: Tree) -> list[str]:
    """What `terraform validate` would refuse first: references to undefined variables, locals,
    resources, data sources, modules and module outputs, and unknown keys of the functions/jobs maps."""
    problems: list[str] = []
    for name, module in tree.items():
        text = without_comments(module.text)
        for var in sorted(set(re.findall(r"(?<![\w.])var\.(\w+)", text)) - set(module.variables)):
            problems.append(f"{name}: var.{var} is not declared")
        for local in sorted(set(re.findall(r"(?<![\w.])local\.(\w+)", text)) - set(module.locals)):
            problems.append(f"{name}: local.{local} is not defined")
        for kind, ref in sorted(set(re.findall(r"(?<![\w.])data\.(\w+)\.(\w+)", text)) - module.data):
            problems.append(f"{name}: data.{kind}.{ref} is not declared")
        resources = set(re.findall(r"(?<![\w.\"])(google_[a-z0-9_]+)\.([a-z_][a-z0-9_]*)", text))
        for kind, ref in sorted(resources - set(module.resources)):
            problems.append(f"{name}: {kind}.{ref} is not a resource of this module")
        for call, output in sorted(set(re.findall(r"(?<![\w.])module\.(\w+)\.(\w+)", text))):
            source = str(module.modules.get(call, {}).get("source", ""))
            called = tree.get(source.rsplit("/", 1)[-1]) if source else None
            if called is None:
                problems.append(f"{name}: module.{call} is not called")
            elif output not in called.outputs:
                problems.append(f"{name}: module {call} has no output {output}")
    for name, module in tree.items():
        for (kind, ref), body in module.resources.items():
            text = json.dumps(body)
            if re.search(r"\beach\.(key|value)\b", text) and "for_each" not in body:
                problems.append(f"{name}: {kind}.{ref} uses each. without for_each")
            if re.search(r"\bcount\.index\b", text) and "count" not in body:
                problems.append(f"{name}: {kind}.{ref} uses count.index without count")
    problems += check_module_arguments(tree) + check_for_scopes(tree)
    for kind, resource, table in (
        ("functions", ("google_cloudfunctions2_function", "function"), "functions"),
        ("jobs", ("google_cloud_run_v2_job", "job"), "jobs"),
    ):
        entries = tree[kind].locals.get(table, {})
        body = json.dumps(tree[kind].resources.get(resource, {}))
        used = set(re.findall(r"each\.value\.(\w+)", body))
        used |= set(re.findall(r'local\.functions\["process_task"\]\.(\w+)', tree[kind].text))
        for key in sorted(used):
            lacking = sorted(n for n, entry in entries.items() if key not in entry)
            if lacking:
                problems.append(f"{kind}: each.value.{key} is used but {lacking} have no {key}")
    return problems


ROOTS = {"var", "local", "each", "module", "data", "path", "count", "self", "terraform"}
KEYWORDS = {"for", "in", "if", "true", "false", "null"}


def unbound_names(expression: str) -> list[str]:
    """Bare names an expression uses that no enclosing ``for`` binds (Terraform: "Unknown variable")."""
    body = re.sub(
        r'"(?:[^"\\]|\\.)*"',
        lambda m: only_interpolations(m.group(0)),
        expression.removeprefix("${").removesuffix("}"),
    )
    spans, stack = [], []
    for at, char in enumerate(body):
        if char in "[{(":
            stack.append(at)
        elif char in "]})" and stack:
            spans.append((stack.pop(), at))
    binders = []
    for found in re.finditer(r"\bfor\s+(\w+)(?:\s*,\s*(\w+))?\s+in\b", body):
        enclosing = [s for s in spans if s[0] < found.start() < s[1]]
        if enclosing:
            start, end = max(enclosing)
            binders += [(name, start, end) for name in found.groups() if name]
    unbound = []
    for found in re.finditer(r"(?<![\w.$])([A-Za-z_]\w*)(?!\w)", body):
        name, at, rest = found.group(1), found.start(), body[found.end() :]
        if name in KEYWORDS or name in ROOTS or name.startswith("google_") or re.match(r"\s*\(", rest):
            continue
        if re.match(r"\s*=(?![=>])", rest):  # an object key
            continue
        if not any(b == name and s < at < e for b, s, e in binders):
            unbound.append(name)
    return unbound


def only_interpolations(literal: str) -> str:
    """A quoted string with its literal text blanked (same length): only its ``${...}`` parts remain."""
    kept = [" "] * len(literal)
    for found in re.finditer(r"\$\{([^{}]*)\}", literal):
        kept[found.start(1) : found.end(1)] = found.group(1)
    return "".join(kept)


def check_for_scopes(tree: Tree) -> list[str]:
    """Every name a for-expression of locals and outputs uses is bound by an enclosing ``for``."""
    problems = []
    for name, module in tree.items():
        values = [("local." + k, v) for k, v in flatten(module.locals)]
        values += [
            ("output." + k, v) for k, v in flatten({k: o.get("value") for k, o in module.outputs.items()})
        ]
        for where, value in values:
            if isinstance(value, str) and "for " in value:
                for unbound in sorted(set(unbound_names(value))):
                    problems.append(f"{name}: {where} uses {unbound!r}, which no enclosing for binds")
    return problems


def flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            found += flatten(value, f"{prefix}{key}.")
        else:
            found.append((f"{prefix}{key}", value))
    return found


META_ARGUMENTS = {"source", "count", "for_each", "depends_on", "providers", "version"}


def check_module_arguments(tree: Tree) -> list[str]:
    """Each module call passes only variables the module declares, and every one without a default."""
    problems = []
    for name, module in tree.items():
        for call, arguments in module.modules.items():
            called = tree.get(str(arguments.get("source", "")).rsplit("/", 1)[-1])
            if called is None:
                problems.append(f"{name}: module {call} has no source folder under modules/")
                continue
            passed = set(arguments) - META_ARGUMENTS
            for argument in sorted(passed - set(called.variables)):
                problems.append(f"{name}: module {call} gets {argument}, which it does not declare")
            required = {v for v, spec in called.variables.items() if "default" not in spec}
            for argument in sorted(required - passed):
                problems.append(f"{name}: module {call} needs {argument}")
    return problems


def check_cloud_sql(tree: Tree) -> list[str]:
    """With Cloud SQL every unit that reads the database holds both Cloud SQL roles on the project
    (not under the Firestore condition) and is an IAM database user; the instance takes IAM logins
    and TLS only. (Its settings are checked by check_settings, in both modes.)"""
    problems = []
    for kind in ("functions", "jobs"):
        module = tree[kind]
        var = "f" if kind == "functions" else "j"
        entries = module.locals.get(kind, {})
        readers = {name for name, entry in entries.items() if "database_url" in entry.get("secrets", [])}
        roles = set(module.locals.get("cloud_sql_roles", []))
        if roles != CLOUD_SQL_ROLES:
            problems.append(
                f"{kind}: local.cloud_sql_roles is {sorted(roles)}, not {sorted(CLOUD_SQL_ROLES)}"
            )
        wanted = (
            f"${{{{for g in flatten([for name, {var} in local.{kind} : [for role in local.cloud_sql_roles : "
            f'{{name = name, role = role}}] if contains({var}.secrets, "database_url")]) : '
            '"${g.name}/${g.role}" => g if var.cloud_sql != null}}'
        )
        if not same(module.locals.get("grants", {}).get("cloud_sql"), wanted):
            problems.append(
                f"{kind}: with Cloud SQL every unit that reads the database must get local.cloud_sql_roles"
            )
        grant = module.resources.get(("google_project_iam_member", "cloud_sql"), {})
        if grant.get("for_each") != "${local.grants.cloud_sql}" or grant.get("role") != "${each.value.role}":
            problems.append(f"{kind}: google_project_iam_member.cloud_sql must grant local.grants.cloud_sql")
        if "condition" in grant:
            problems.append(
                f"{kind}: the Cloud SQL roles are bound under a condition (only Firestore's has one)"
            )
        if f"google_service_account.{ACCOUNT[kind]}[each.value.name].email" not in str(grant.get("member")):
            problems.append(f"{kind}: the Cloud SQL roles must go to each unit's own account")
        users = database_users(tree, kind)
        if users != readers:
            problems.append(
                f"{kind}: IAM database users {sorted(users)}, units reading the database {sorted(readers)}"
            )
        user = module.resources.get(("google_sql_user", "iam"), {})
        if (
            user.get("type") != "CLOUD_IAM_SERVICE_ACCOUNT"
            or user.get("instance") != "${var.cloud_sql.instance}"
        ):
            problems.append(
                f"{kind}: google_sql_user.iam must be a CLOUD_IAM_SERVICE_ACCOUNT on the instance"
            )
        for name in sorted(readers):
            if iam_user(tree, kind, name) != f"ep-{name.replace('_', '-')}@p-1.iam":
                problems.append(
                    f"{name}: its database user must be its account email without .gserviceaccount.com"
                )
    instance = tree["data"].resource("google_sql_database_instance", "postgres")
    settings = block(instance["settings"])
    flags = {flag["name"]: flag["value"] for flag in settings.get("database_flags", [])}
    if flags.get("cloudsql.iam_authentication") != "on":
        problems.append("the instance must take IAM logins (database flag cloudsql.iam_authentication=on)")
    network = block(settings["ip_configuration"])
    if network.get("ssl_mode") not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        problems.append(
            f"the instance accepts connections without TLS (ssl_mode {network.get('ssl_mode')!r})"
        )
    if network.get("ipv4_enabled") is not False:
        problems.append("the instance has a public IP; the connector uses the private one (CLOUDSQL_IP_TYPE)")
    return problems


ALL_CHECKS = {
    "cloud_sql": check_cloud_sql,
    "functions": check_functions,
    "settings": check_settings,
    "secrets": check_secrets,
    "roles": check_roles,
    "schedules": check_schedules,
    "queue": check_queue,
    "storage": check_storage,
    "monitoring": check_monitoring,
    "wiring": check_wiring,
    "web": check_web,
    "references": check_references,
}

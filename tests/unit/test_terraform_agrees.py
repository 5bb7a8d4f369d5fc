"""Terraform agrees with the code: functions, settings, secrets, roles, schedules, queue, monitoring.

Each check runs on the real tree (no problem) and on a copy with one realistic mistake (reported).
The needs of each function and job, and the code that proves each, are in terraform_checks.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit import terraform_checks as checks
from tests.unit.terraform_support import TERRAFORM, load_tree


@pytest.fixture(scope="module")
def tree() -> checks.Tree:
    return load_tree()


@pytest.mark.parametrize("name", sorted(checks.ALL_CHECKS))
def test_the_real_tree_agrees_with_the_code(name: str, tree: checks.Tree) -> None:
    problems = checks.ALL_CHECKS[name](tree)
    assert not problems, "\n".join(problems)


def test_every_declared_need_is_backed_by_code_the_entry_point_reaches() -> None:
    problems = checks.check_evidence()
    assert not problems, "\n".join(problems)


def mutated(tmp_path: Path, relative: str, old: str, new: str) -> checks.Tree:
    """A copy of infra/terraform with one text replacement in one file.

    ``"api >> text"`` replaces the first ``text`` after the line ``    api = {`` (an entry of a map).
    """
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    path = copy / relative
    text = path.read_text(encoding="utf-8")
    start = 0
    if " >> " in old:
        entry, old = old.split(" >> ", 1)
        start = text.index(f"    {entry} = {{\n")
    at = text.find(old, start)
    assert at != -1, f"{old!r} is not in {relative}: the mutation is stale"
    path.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")
    return load_tree(copy)


FUNCTIONS_TF = "modules/functions/main.tf"
JOBS_TF = "modules/jobs/main.tf"

MISTAKES = [
    (
        "references",
        "modules/functions/iam.tf",
        "  for_each = local.grants.raw_bucket\n",
        "",
        "without for_each",
    ),
    (
        "references",
        FUNCTIONS_TF,
        '=> g if g.role != "roles/datastore.user"',
        '=> g if role != "roles/datastore.user"',
        "'role'",
    ),
    ("references", JOBS_TF, "name => j if j.schedule != null", "name => j if schedule != null", "'schedule'"),
    (
        "web",
        "modules/web/main.tf",
        '"Referrer-Policy: no-referrer",',
        '"Referrer-Policy: origin",',
        "headers",
    ),
    (
        "web",
        "modules/web/main.tf",
        "connect-src 'self' https://storage.googleapis.com;",
        "connect-src 'self';",
        "headers",
    ),
    (
        "web",
        "modules/web/main.tf",
        'path_prefix_rewrite = "/api-docs.html"',
        'path_prefix_rewrite = "/docs.html"',
        "rewritten",
    ),
    (
        "references",
        "environments/prod/main.tf",
        "  cloud_sql_high_availability = true",
        "  cloud_sql_ha = true",
        "cloud_sql_ha",
    ),
    (
        "references",
        "environments/dev/main.tf",
        '  reclaim_job        = module.jobs.names["reclaim_stuck"]\n',
        "",
        "needs reclaim_job",
    ),
    (
        "references",
        FUNCTIONS_TF,
        "= var.tasks_invoker_email\n  }",
        "= var.tasks_invoker_mail\n  }",
        "var.tasks_invoker_mail",
    ),
    (
        "references",
        "environments/dev/main.tf",
        "= module.tasks.queue_name",
        "= module.tasks.queue_nme",
        "no output queue_nme",
    ),
    (
        "references",
        FUNCTIONS_TF,
        "for_each    = local.callers",
        "for_each    = local.caller",
        "local.caller is not",
    ),
    (
        "references",
        FUNCTIONS_TF,
        "entry_point = each.value.entry_point",
        "entry_point = each.value.entrypoint",
        "entrypoint",
    ),
    (
        "references",
        FUNCTIONS_TF,
        'local.functions["process_task"].memory',
        'local.functions["process_task"].mem',
        ".mem is",
    ),
    (
        "references",
        "modules/functions/iam.tf",
        "google_service_account.function[each.value.name].email",
        "google_service_account.functions[each.value.name].email",
        "google_service_account.functions is not a resource",
    ),
    (
        "references",
        "modules/functions/iam.tf",
        "data.google_storage_project_service_account.gcs.email_address",
        "data.google_storage_project_service_account.storage.email_address",
        "data.google_storage_project_service_account.storage",
    ),
    # (check, file, text, replaced by, expected fragment of a problem)
    (
        "functions",
        FUNCTIONS_TF,
        'entry_point         = "api"',
        'entry_point         = "handler"',
        "entry_point 'handler'",
    ),
    ("functions", FUNCTIONS_TF, "    edge_enroll = {", "    edge_enrol = {", "local.functions"),
    ("functions", FUNCTIONS_TF, 'runtime = "python311"', 'runtime = "python312"', "runtime"),
    (
        "functions",
        FUNCTIONS_TF,
        'trigger             = "storage_finalized"',
        'trigger             = "http"',
        "gcs_finalize",
    ),
    ("functions", FUNCTIONS_TF, '"RETRY_POLICY_RETRY"', '"RETRY_POLICY_DO_NOT_RETRY"', "retry on failure"),
    (
        "functions",
        FUNCTIONS_TF,
        'source   = "${var.bundle_dir}/${each.key}.zip"',
        'source   = "${var.bundle_dir}/${each.key}.tgz"',
        "bundle",
    ),
    ("functions", FUNCTIONS_TF, '= "ALLOW_INTERNAL_ONLY" #', '= "ALLOW_ALL" #', "process_task's ingress"),
    (
        "functions",
        FUNCTIONS_TF,
        "merge(local.common_env, local.database_env, local.task_receiver_env,",
        "merge(local.common_env, local.database_env,",
        "process_task",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        "  task_receiver_env = {\n    EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT = var.tasks_invoker_email\n  }",
        "  task_receiver_env = {}",
        "process_task: the code needs EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        'gcs_finalize >> env_sets            = ["common", "database", "queue"]',
        'env_sets            = ["common", "database"]',
        "gcs_finalize: the code needs EVENTPULSE_QUEUE",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        "EVENTPULSE_GCS_BUCKET         =",
        "EVENTPULSE_GCS_BUCKETS        =",
        "names no field",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        'EVENTPULSE_MODE               = "cloud"',
        'EVENTPULSE_MODE               = "local"',
        "not cloud",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        'EVENTPULSE_QUEUE                     = "cloud_tasks"',
        'EVENTPULSE_QUEUE                     = "rq"',
        "not cloud_tasks",
    ),
    (
        "secrets",
        FUNCTIONS_TF,
        'secrets             = ["database_url", "edge_enroll_token_sha256", "device_token_pepper"]',
        'secrets             = ["database_url", "device_token_pepper"]',
        "edge_enroll: needs the secret setting EDGE_ENROLL_TOKEN_SHA256",
    ),
    (
        "secrets",
        FUNCTIONS_TF,
        'secrets             = ["database_url", "api_tokens"]',
        'secrets             = ["database_url", "api_tokens", "device_token_pepper"]',
        "signed_url: mounts DEVICE_TOKEN_PEPPER",
    ),
    (
        "secrets",
        FUNCTIONS_TF,
        'secrets             = ["database_url", "api_tokens"]',
        'secrets             = ["database_url", "api_token"]',
        "does not create",
    ),
    (
        "secrets",
        "modules/secrets/main.tf",
        '    database_url             = "DATABASE_URL"\n',
        "",
        "needs the secret setting DATABASE_URL",
    ),
    (
        "roles",
        FUNCTIONS_TF,
        'api >> raw_bucket_roles    = ["roles/storage.objectUser"]',
        'raw_bucket_roles    = ["roles/storage.objectAdmin"]',
        "broad role roles/storage.objectAdmin",
    ),
    (
        "roles",
        FUNCTIONS_TF,
        'process_task >> project_roles       = ["roles/datastore.user"]',
        "project_roles       = []",
        "process_task: lacks roles/datastore.user",
    ),
    (
        "roles",
        FUNCTIONS_TF,
        "edge_enroll >> raw_bucket_roles    = []",
        'raw_bucket_roles    = ["roles/storage.objectViewer"]',
        "edge_enroll: holds roles/storage.objectViewer",
    ),
    (
        "roles",
        "modules/functions/iam.tf",
        'role    = "roles/eventarc.eventReceiver"',
        'role    = "roles/editor"',
        "roles/editor",
    ),
    (
        "roles",
        JOBS_TF,
        'raw_bucket_roles    = ["roles/storage.objectViewer"]',
        "raw_bucket_roles    = []",
        "replay: lacks roles/storage.objectViewer",
    ),
    ("roles", JOBS_TF, '"--apply"]', '"--apply", "--include-raw"]', "--include-raw"),
    (
        "schedules",
        JOBS_TF,
        "google_cloud_run_v2_job.job[each.key].name}:run",
        'google_cloud_run_v2_job.job["replay"].name}:run',
        "its own Cloud Run job",
    ),
    (
        "schedules",
        JOBS_TF,
        "      schedule            = null",
        '      schedule            = "0 * * * *"',
        "replay runs on demand",
    ),
    ("schedules", JOBS_TF, '"--older-than-days"', '"--older-than"', "no option --older-than"),
    (
        "schedules",
        JOBS_TF,
        '      schedule            = "30 3 * * *"',
        '      schedule            = "30 3 * * 1"',
        "prune_retention: schedule",
    ),
    ("schedules", JOBS_TF, "    device_sweep = {", "    device_sweeper = {", "local.jobs"),
    (
        "queue",
        "modules/tasks/main.tf",
        "max_attempts       = 10",
        "max_attempts       = 5",
        "retry_config.max_attempts",
    ),
    (
        "queue",
        "modules/tasks/main.tf",
        'max_backoff        = "600s"',
        'max_backoff        = "60s"',
        "retry_config.max_backoff",
    ),
    (
        "storage",
        "modules/storage/main.tf",
        "matches_prefix = [local.uploads_prefix]",
        'matches_prefix = ["raw/"]',
        "deletes raw data",
    ),
    (
        "storage",
        "modules/storage/main.tf",
        "  versioning {\n    enabled = true",
        "  versioning {\n    enabled = false",
        "versioning",
    ),
    (
        "storage",
        "modules/storage/main.tf",
        'public_access_prevention    = "enforced"',
        'public_access_prevention    = "inherited"',
        "public_access_prevention",
    ),
    (
        "storage",
        "modules/storage/main.tf",
        'method          = ["PUT"]',
        'method          = ["PUT", "DELETE"]',
        "only PUT",
    ),
    ("storage", "modules/storage/main.tf", '    "x-goog-meta-sha256",\n', "", "signed ones"),
    (
        "storage",
        "environments/prod/main.tf",
        'cors_origins  = local.web_enabled ? ["https://${var.domain}"] : []',
        'cors_origins  = ["*"]',
        "cors_origins",
    ),
    (
        "monitoring",
        "modules/monitoring/main.tf",
        '\\"eventpulse.pipeline.lineage_push\\"',
        '\\"eventpulse.lineage.push\\"',
        "logger",
    ),
    (
        "monitoring",
        "modules/monitoring/main.tf",
        "not pushed \\\\\\\\(attempt",
        "not sent \\\\\\\\(attempt",
        "does not match",
    ),
    (
        "monitoring",
        "modules/monitoring/main.tf",
        '"checked, ([0-9]+) offline',
        '"checked; ([0-9]+) offline',
        "value extractor",
    ),
    (
        "monitoring",
        "modules/monitoring/main.tf",
        '      metric    = "push_failures"',
        '      metric    = "push_failure"',
        "not a metric",
    ),
    ("monitoring", "modules/monitoring/main.tf", "#quarantined-rows-or-files", "#quarantine", "no heading"),
    (
        "wiring",
        "environments/dev/main.tf",
        "tasks_queue         = module.tasks.queue_name",
        "tasks_queue         = module.tasks.queue_id",
        "tasks_queue",
    ),
    (
        "wiring",
        "environments/prod/main.tf",
        "secrets               = module.secrets.secrets",
        "secrets               = {}",
        "secrets",
    ),
    (
        "web",
        "modules/web/main.tf",
        'service = google_compute_backend_service.function["edge_enroll"].id',
        'service = google_compute_backend_service.function["edge_ingest"].id',
        "edge_enroll",
    ),
    # With Cloud SQL (the connector, IAM database auth): every unit that reads the database.
    (
        "settings",
        FUNCTIONS_TF,
        'api >> env_sets            = ["common", "database", "queue", "proxy"]',
        'env_sets            = ["common", "queue", "proxy"]',
        "api: with Cloud SQL, the code needs EVENTPULSE_CLOUDSQL_INSTANCE",
    ),
    (
        "settings",
        JOBS_TF,
        'prune_retention >> env_sets            = ["common", "database"]',
        'env_sets            = ["common"]',
        "prune_retention: with Cloud SQL, the code needs EVENTPULSE_CLOUDSQL_INSTANCE",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        'EVENTPULSE_CLOUDSQL_IAM_AUTH = var.cloud_sql == null ? "" : "true"',
        'EVENTPULSE_CLOUDSQL_IAM_AUTH = var.cloud_sql == null ? "" : "false"',
        "the connector must use IAM auth",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        'EVENTPULSE_DB_ROLE           = var.cloud_sql == null ? "" : "cloudsqlsuperuser"',
        'EVENTPULSE_DB_ROLE           = var.cloud_sql == null ? "" : "eventpulse"',
        "its sessions take role 'eventpulse'",
    ),
    (
        "settings",
        FUNCTIONS_TF,
        'DATABASE_URL = "postgresql://${urlencode(user.name)}@/',
        'DATABASE_URL = "postgresql://eventpulse@/',
        "edge_ingest: with Cloud SQL DATABASE_URL must name its IAM user",
    ),
    (
        "settings",
        JOBS_TF,
        'secret if secret != "database_url" || var.cloud_sql == null]',
        "secret]",
        "reclaim_stuck: with Cloud SQL DATABASE_URL must name its IAM user",
    ),
    (
        "cloud_sql",
        JOBS_TF,
        'cloud_sql_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]',
        'cloud_sql_roles = ["roles/cloudsql.client"]',
        "jobs: local.cloud_sql_roles",
    ),
    (
        "cloud_sql",
        FUNCTIONS_TF,
        'if contains(f.secrets, "database_url")]) : "${g.name}/${g.role}" => g if var.cloud_sql != null',
        'if f.public]) : "${g.name}/${g.role}" => g if var.cloud_sql != null',
        "functions: with Cloud SQL every unit that reads the database must get local.cloud_sql_roles",
    ),
    (
        "cloud_sql",
        "modules/jobs/iam.tf",
        "  for_each = local.grants.cloud_sql\n  project  = var.project_id\n  role     = each.value.role\n"
        '  member   = "serviceAccount:${google_service_account.job[each.value.name].email}"\n',
        "  for_each = local.grants.cloud_sql\n  project  = var.project_id\n  role     = each.value.role\n"
        '  member   = "serviceAccount:${google_service_account.job[each.value.name].email}"\n'
        '  condition {\n    title      = "firestore"\n    expression = "true"\n  }\n',
        "bound under a condition",
    ),
    (
        "cloud_sql",
        "modules/functions/iam.tf",
        'name     = trimsuffix(google_service_account.function[each.key].email, ".gserviceaccount.com")',
        "name     = google_service_account.function[each.key].email",
        "account email without .gserviceaccount.com",
    ),
    (
        "cloud_sql",
        "modules/data/main.tf",
        'name  = "cloudsql.iam_authentication"',
        'name  = "cloudsql.iam_auth"',
        "IAM logins",
    ),
    (
        "cloud_sql",
        "modules/data/main.tf",
        'ssl_mode        = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"',
        'ssl_mode        = "ALLOW_UNENCRYPTED_AND_ENCRYPTED"',
        "without TLS",
    ),
    (
        "wiring",
        "environments/prod/main.tf",
        "  cloud_sql             = module.data.cloud_sql\n",
        "",
        "module jobs gets cloud_sql = None",
    ),
]


@pytest.mark.parametrize(("check", "relative", "old", "new", "expected"), MISTAKES, ids=lambda v: str(v)[:40])
def test_a_mismatch_is_reported(
    check: str, relative: str, old: str, new: str, expected: str, tmp_path: Path
) -> None:
    problems = checks.ALL_CHECKS[check](mutated(tmp_path, relative, old, new))
    assert any(expected in p for p in problems), f"expected a problem containing {expected!r}, got {problems}"


def test_a_need_without_code_behind_it_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = checks.needs("enqueue", enqueue="eventpulse.cloud.signed_url: services.queue.enqueue(")
    monkeypatch.setitem(checks.FUNCTIONS, "signed_url", fake)
    assert any("signed_url: enqueue" in p for p in checks.check_evidence())


def test_a_need_in_a_module_the_entry_point_does_not_reach_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = checks.needs("enqueue", enqueue="eventpulse.pipeline.reclaim: services.queue.enqueue(")
    monkeypatch.setitem(checks.JOBS, "device_sweep", fake)
    assert any("is not reached" in p for p in checks.check_evidence())


def test_a_function_without_declared_needs_is_reported(
    monkeypatch: pytest.MonkeyPatch, tree: checks.Tree
) -> None:
    monkeypatch.delitem(checks.FUNCTIONS, "edge_ingest")
    assert any("edge_ingest has no declared needs" in p for p in checks.check_settings(tree))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "task_receiver_env = {\n    EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT = var.tasks_invoker_email\n  }",
            "task_receiver_env = {}",
            "process_task: eventpulse.cloud.tasks reads settings.task_oidc_service_account",
        ),
        (
            "    EVENTPULSE_TASKS_LOCATION            = var.tasks_location\n",
            "",
            "reclaim_stuck: eventpulse.adapters.queue_cloud_tasks reads settings.tasks_location",
        ),
        (
            "    EVENTPULSE_FIRESTORE_DATABASE = var.firestore_database\n",
            "",
            "edge_enroll: eventpulse.adapters.firestore.client reads settings.firestore_database",
        ),
    ],
)
def test_a_setting_the_code_reads_is_required_without_the_declared_table(
    old: str, new: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "SETTINGS", {})  # only what the code reads remains
    monkeypatch.setattr(checks, "BASE_SETTINGS", set())
    problems = checks.check_settings(mutated(tmp_path, FUNCTIONS_TF, old, new))
    assert any(p.startswith(expected) for p in problems), problems

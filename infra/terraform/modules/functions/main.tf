# One Cloud Function (2nd gen) per folder of functions/, each with its own service account holding
# only the roles its code uses. The map below is the whole description; the resources only expand
# it. tests/unit/test_terraform_agrees.py checks it against the code: entry points, settings,
# secrets and roles. Every function reads the database: with the data module's Cloud SQL each also
# gets the connector's settings (group database), its own IAM database user and the Cloud SQL roles.

locals {
  runtime = "python311"

  functions = {
    signed_url = {
      entry_point         = "signed_url"
      trigger             = "http"
      ingress             = "public"
      public              = true # the function checks the bearer token
      memory              = "512Mi"
      cpu                 = "1"
      timeout_seconds     = 60
      env_sets            = ["common", "database"]
      secrets             = ["database_url", "api_tokens"]
      raw_bucket_roles    = ["roles/storage.objectCreator"]
      queue_roles         = []
      self_roles          = ["roles/iam.serviceAccountTokenCreator"]
      tasks_invoker_roles = []
      project_roles       = []
    }
    gcs_finalize = {
      entry_point         = "gcs_finalize"
      trigger             = "storage_finalized"
      ingress             = "internal"
      public              = false
      memory              = "1Gi"
      cpu                 = "1"
      timeout_seconds     = 540
      env_sets            = ["common", "database", "queue"]
      secrets             = ["database_url"]
      raw_bucket_roles    = ["roles/storage.objectUser"]
      queue_roles         = ["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"]
      self_roles          = []
      tasks_invoker_roles = ["roles/iam.serviceAccountUser"]
      project_roles       = []
    }
    process_task = {
      entry_point         = "process_task"
      trigger             = "http"
      ingress             = "internal"
      public              = false # only the tasks invoker account may call it
      memory              = "4Gi"
      cpu                 = "2"
      timeout_seconds     = var.process_timeout_seconds
      env_sets            = ["common", "database", "task_receiver"]
      secrets             = ["database_url"]
      raw_bucket_roles    = ["roles/storage.objectViewer"]
      queue_roles         = []
      self_roles          = []
      tasks_invoker_roles = []
      project_roles       = ["roles/datastore.user"]
    }
    api = {
      entry_point         = "api"
      trigger             = "http"
      ingress             = "public"
      public              = true # the app checks bearer tokens and their roles
      memory              = "2Gi"
      cpu                 = "1"
      timeout_seconds     = 300
      env_sets            = ["common", "database", "queue", "proxy"]
      secrets             = ["database_url", "api_tokens", "task_token_sha256", "device_token_pepper"]
      raw_bucket_roles    = ["roles/storage.objectUser"]
      queue_roles         = ["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"]
      self_roles          = ["roles/iam.serviceAccountTokenCreator"]
      tasks_invoker_roles = ["roles/iam.serviceAccountUser"]
      project_roles       = ["roles/datastore.user"]
    }
    edge_enroll = {
      entry_point         = "edge_enroll"
      trigger             = "http"
      ingress             = "public"
      public              = true # the fleet enroll token and a per-address rate limit
      memory              = "512Mi"
      cpu                 = "1"
      timeout_seconds     = 30
      env_sets            = ["common", "database", "proxy"]
      secrets             = ["database_url", "edge_enroll_token_sha256", "device_token_pepper"]
      raw_bucket_roles    = []
      queue_roles         = []
      self_roles          = []
      tasks_invoker_roles = []
      project_roles       = ["roles/datastore.user"]
    }
    edge_ingest = {
      entry_point         = "edge_ingest"
      trigger             = "http"
      ingress             = "public"
      public              = true # a device token on every route
      memory              = "1Gi"
      cpu                 = "1"
      timeout_seconds     = 300
      env_sets            = ["common", "database", "queue", "proxy"]
      secrets             = ["database_url", "device_token_pepper"]
      raw_bucket_roles    = ["roles/storage.objectUser"]
      queue_roles         = ["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"]
      self_roles          = ["roles/iam.serviceAccountTokenCreator"]
      tasks_invoker_roles = ["roles/iam.serviceAccountUser"]
      project_roles       = ["roles/datastore.user"]
    }
  }

  # Settings every service reads (eventpulse.settings.Settings; docs/SETTINGS.md).
  common_env = {
    EVENTPULSE_MODE               = "cloud"
    EVENTPULSE_LANDING            = "gcs"
    EVENTPULSE_GCS_BUCKET         = var.raw_bucket
    EVENTPULSE_GCP_PROJECT        = var.project_id
    EVENTPULSE_CONTRACTS_DIR      = "contracts"
    EVENTPULSE_DEVICE_REGISTRY    = var.device_registry
    EVENTPULSE_FIRESTORE_DATABASE = var.firestore_database
  }

  # Settings of a service that reads the database. With Cloud SQL: the Cloud SQL Python connector over
  # the private IP, with IAM database auth (adapters/postgres/cloudsql.py); every session takes the
  # role its IAM user is made a member of (make deploy-gcp), so all services own the schema together.
  # Without Cloud SQL the values are empty and left out of the environments: the code connects to the
  # host of DATABASE_URL as its user.
  database_env = {
    EVENTPULSE_CLOUDSQL_INSTANCE = var.cloud_sql == null ? "" : var.cloud_sql.connection_name
    EVENTPULSE_CLOUDSQL_IP_TYPE  = var.cloud_sql == null ? "" : "private"
    EVENTPULSE_CLOUDSQL_IAM_AUTH = var.cloud_sql == null ? "" : "true"
    EVENTPULSE_DB_ROLE           = var.cloud_sql == null ? "" : "cloudsqlsuperuser"
  }

  # With Cloud SQL each function logs in as its own account (google_sql_user.iam): its DATABASE_URL
  # names that user and the database, no password, no host, so it is a plain setting and replaces the
  # database_url secret (kept for a database of your own).
  iam_database_env = {
    for name, user in google_sql_user.iam : name => {
      DATABASE_URL = "postgresql://${urlencode(user.name)}@/${var.cloud_sql.database}"
    }
  }
  mounted_secrets = {
    for name, f in local.functions : name => [for secret in f.secrets : secret if secret != "database_url" || var.cloud_sql == null]
  }

  # Cloud SQL has no per-instance IAM: bound on the project, without the Firestore condition.
  cloud_sql_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]

  # Settings of a service that enqueues (adapters/queue_cloud_tasks.py).
  queue_env = {
    EVENTPULSE_QUEUE                     = "cloud_tasks"
    EVENTPULSE_TASKS_LOCATION            = var.tasks_location
    EVENTPULSE_TASKS_QUEUE               = var.tasks_queue
    EVENTPULSE_TASK_HANDLER_URL          = google_cloudfunctions2_function.processor.service_config[0].uri
    EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT = var.tasks_invoker_email
    EVENTPULSE_JOB_TIMEOUT_SECONDS       = tostring(var.process_timeout_seconds)
  }

  # process_task trusts the OIDC token Cloud Run verified only when this is set (cloud/tasks.py).
  task_receiver_env = {
    EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT = var.tasks_invoker_email
  }

  # Public HTTP functions behind Google's front end (and the load balancer).
  proxy_env = {
    EVENTPULSE_TRUSTED_PROXY_HOPS = tostring(var.trusted_proxy_hops)
  }

  env_sets = {
    common        = local.common_env
    database      = local.database_env
    queue         = local.queue_env
    task_receiver = local.task_receiver_env
    proxy         = local.proxy_env
  }

  ingress = {
    public   = var.public_ingress
    internal = "ALLOW_INTERNAL_ONLY"
  }

  # process_task is its own resource: its URL is the other functions' EVENTPULSE_TASK_HANDLER_URL.
  callers = { for name, f in local.functions : name => f if name != "process_task" }

  grants = {
    raw_bucket    = { for g in flatten([for name, f in local.functions : [for role in f.raw_bucket_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    queue         = { for g in flatten([for name, f in local.functions : [for role in f.queue_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    self          = { for g in flatten([for name, f in local.functions : [for role in f.self_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    tasks_invoker = { for g in flatten([for name, f in local.functions : [for role in f.tasks_invoker_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    project       = { for g in flatten([for name, f in local.functions : [for role in f.project_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g if g.role != "roles/datastore.user" || var.device_registry == "firestore" }
    secret        = { for g in flatten([for name, f in local.functions : [for secret in local.mounted_secrets[name] : { name = name, secret = secret }]]) : "${g.name}/${g.secret}" => g }
    cloud_sql     = { for g in flatten([for name, f in local.functions : [for role in local.cloud_sql_roles : { name = name, role = role }] if contains(f.secrets, "database_url")]) : "${g.name}/${g.role}" => g if var.cloud_sql != null }
    sql_user      = { for name, f in local.functions : name => f if contains(f.secrets, "database_url") && var.cloud_sql != null }
  }
}

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  display_name = "EventPulse function ${each.key}"
}

resource "google_storage_bucket_object" "bundle" {
  for_each = local.functions
  bucket   = var.sources_bucket
  name     = "functions/${each.key}-${filemd5("${var.bundle_dir}/${each.key}.zip")}.zip"
  source   = "${var.bundle_dir}/${each.key}.zip"
}

resource "google_cloudfunctions2_function" "processor" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-process-task"
  description = "EventPulse process_task: runs the pipeline on the ingestion id Cloud Tasks posts"

  build_config {
    runtime     = local.runtime
    entry_point = local.functions["process_task"].entry_point
    source {
      storage_source {
        bucket = var.sources_bucket
        object = google_storage_bucket_object.bundle["process_task"].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["process_task"].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY" # local.functions: internal (Cloud Tasks only)
    available_memory                 = local.functions["process_task"].memory
    available_cpu                    = local.functions["process_task"].cpu
    timeout_seconds                  = local.functions["process_task"].timeout_seconds
    max_instance_count               = var.max_instances["process_task"]
    max_instance_request_concurrency = 1
    all_traffic_on_latest_revision   = true
    vpc_connector                    = var.vpc_connector
    vpc_connector_egress_settings    = var.vpc_connector == null ? null : "PRIVATE_RANGES_ONLY"
    # Spelled out, not through local.env_sets: the queue set holds this function's own URL. Empty
    # values (the database group without Cloud SQL) are left out.
    environment_variables = { for k, v in merge(local.common_env, local.database_env, local.task_receiver_env, lookup(local.iam_database_env, "process_task", {})) : k => v if v != "" }

    dynamic "secret_environment_variables" {
      for_each = toset(local.mounted_secrets["process_task"])
      content {
        key        = var.secrets[secret_environment_variables.value].env
        project_id = var.project_id
        secret     = var.secrets[secret_environment_variables.value].id
        version    = "latest"
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.accessor, google_project_iam_member.cloud_sql]
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:public_ingress is ALLOW_ALL only without the load balancer; with it ALLOW_INTERNAL_AND_GCLB
  for_each    = local.callers
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description = "EventPulse ${each.key}"

  build_config {
    runtime     = local.runtime
    entry_point = each.value.entry_point
    source {
      storage_source {
        bucket = var.sources_bucket
        object = google_storage_bucket_object.bundle[each.key].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = local.ingress[each.value.ingress]
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    max_instance_count               = var.max_instances[each.key]
    max_instance_request_concurrency = 1
    all_traffic_on_latest_revision   = true
    vpc_connector                    = var.vpc_connector
    vpc_connector_egress_settings    = var.vpc_connector == null ? null : "PRIVATE_RANGES_ONLY"
    environment_variables            = { for k, v in merge(merge([for group in each.value.env_sets : local.env_sets[group]]...), lookup(local.iam_database_env, each.key, {})) : k => v if v != "" }

    dynamic "secret_environment_variables" {
      for_each = toset(local.mounted_secrets[each.key])
      content {
        key        = var.secrets[secret_environment_variables.value].env
        project_id = var.project_id
        secret     = var.secrets[secret_environment_variables.value].id
        version    = "latest"
      }
    }
  }

  # Only gcs_finalize has an event trigger: object finalize on the raw bucket, retried on failure
  # (the function raises only on retryable failures).
  dynamic "event_trigger" {
    for_each = each.value.trigger == "storage_finalized" ? [each.key] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.storage.object.v1.finalized"
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.eventarc.email
      event_filters {
        attribute = "bucket"
        value     = var.raw_bucket
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.accessor,
    google_project_iam_member.cloud_sql,
    google_project_iam_member.eventarc_receiver,
    google_project_iam_member.storage_agent_publisher,
  ]
}

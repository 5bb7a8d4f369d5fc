# The grants of local.functions, each on the narrowest resource that carries it: the raw bucket, the
# queue, the function's own account (signBlob for V4 signed URLs), the tasks invoker account (actAs,
# to attach its OIDC token to a task), each secret. Firestore has no per-database IAM: its role is
# bound on the project with a condition naming the registry's database. Cloud SQL has no
# per-instance IAM either: its two roles are bound on the project (no condition: they are not
# Firestore's), and the database user of each account is created on the instance.

data "google_project" "this" {
  project_id = var.project_id
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_storage_bucket_iam_member" "raw" {
  for_each = local.grants.raw_bucket
  bucket   = var.raw_bucket
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_cloud_tasks_queue_iam_member" "queue" {
  for_each = local.grants.queue
  project  = var.project_id
  location = var.tasks_location
  name     = var.tasks_queue
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_service_account_iam_member" "self" {
  for_each           = local.grants.self
  service_account_id = google_service_account.function[each.value.name].name
  role               = each.value.role
  member             = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_service_account_iam_member" "tasks_invoker" {
  for_each           = local.grants.tasks_invoker
  service_account_id = var.tasks_invoker_id
  role               = each.value.role
  member             = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_project_iam_member" "project" {
  for_each = local.grants.project
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.name].email}"

  condition {
    title       = "eventpulse-device-registry"
    description = "Only the device registry's Firestore database"
    expression  = "resource.name.startsWith(\"projects/${var.project_id}/databases/${var.firestore_database}\")"
  }
}

# With Cloud SQL: the connector's certificate and the instance's address (client), the IAM database
# login (instanceUser), and the account as a database user.
resource "google_project_iam_member" "cloud_sql" {
  for_each = local.grants.cloud_sql
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_sql_user" "iam" {
  for_each = local.grants.sql_user
  project  = var.project_id
  instance = var.cloud_sql.instance
  name     = trimsuffix(google_service_account.function[each.key].email, ".gserviceaccount.com")
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.grants.secret
  project   = var.project_id
  secret_id = var.secrets[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

# Who may invoke each function's Cloud Run service.
resource "google_cloud_run_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:Public by design: devices and API clients call these; each request is authenticated by the app (tokens)
  for_each = { for name, f in local.callers : name => f if f.public }
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "processor_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.processor.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.tasks_invoker_email}"
}

# Eventarc's storage trigger: its own account receives the events and invokes gcs_finalize; the
# Cloud Storage service agent publishes them.
resource "google_service_account" "eventarc" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-eventarc"
  display_name = "EventPulse: Eventarc trigger of gcs_finalize"
}

resource "google_project_iam_member" "eventarc_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.eventarc.email}"
}

resource "google_cloud_run_service_iam_member" "finalize_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function["gcs_finalize"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.eventarc.email}"
}

resource "google_project_iam_member" "storage_agent_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

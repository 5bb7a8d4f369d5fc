# The grants of local.jobs, each on the narrowest resource that carries it (as for the functions).

resource "google_storage_bucket_iam_member" "raw" {
  for_each = local.grants.raw_bucket
  bucket   = var.raw_bucket
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.job[each.value.name].email}"
}

resource "google_cloud_tasks_queue_iam_member" "queue" {
  for_each = local.grants.queue
  project  = var.project_id
  location = var.tasks_location
  name     = var.tasks_queue
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.job[each.value.name].email}"
}

resource "google_service_account_iam_member" "tasks_invoker" {
  for_each           = local.grants.tasks_invoker
  service_account_id = var.tasks_invoker_id
  role               = each.value.role
  member             = "serviceAccount:${google_service_account.job[each.value.name].email}"
}

resource "google_project_iam_member" "project" {
  for_each = local.grants.project
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.job[each.value.name].email}"

  condition {
    title       = "eventpulse-device-registry"
    description = "Only the device registry's Firestore database"
    expression  = "resource.name.startsWith(\"projects/${var.project_id}/databases/${var.firestore_database}\")"
  }
}

# With Cloud SQL (on the project, no condition), and each account as a database user.
resource "google_project_iam_member" "cloud_sql" {
  for_each = local.grants.cloud_sql
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.job[each.value.name].email}"
}

resource "google_sql_user" "iam" {
  for_each = local.grants.sql_user
  project  = var.project_id
  instance = var.cloud_sql.instance
  name     = trimsuffix(google_service_account.job[each.key].email, ".gserviceaccount.com")
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.grants.secret
  project   = var.project_id
  secret_id = var.secrets[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.job[each.value.name].email}"
}

output "names" {
  description = "job => its Cloud Run job name (gcloud run jobs execute NAME)."
  value       = { for name, j in google_cloud_run_v2_job.job : name => j.name }
}

output "database_users" {
  description = "job => its IAM database user (empty without Cloud SQL); make deploy-gcp gives each the database role."
  value       = { for name, user in google_sql_user.iam : name => user.name }
}

output "service_accounts" {
  description = "job => the email of its own service account."
  value       = { for name, sa in google_service_account.job : name => sa.email }
}

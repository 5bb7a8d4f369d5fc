output "urls" {
  description = "function => its HTTPS URL (what make verify-gcp calls)."
  value = merge(
    { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].uri },
    { process_task = google_cloudfunctions2_function.processor.service_config[0].uri },
  )
}

output "names" {
  description = "function => its deployed name."
  value = merge(
    { for name, f in google_cloudfunctions2_function.function : name => f.name },
    { process_task = google_cloudfunctions2_function.processor.name },
  )
}

output "service_accounts" {
  description = "function => the email of its own service account."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "database_users" {
  description = "function => its IAM database user (empty without Cloud SQL); make deploy-gcp gives each the database role."
  value       = { for name, user in google_sql_user.iam : name => user.name }
}

output "env_sets" {
  description = "The settings groups, for the Cloud Run jobs."
  value       = local.env_sets
}

output "project_number" {
  description = "Number of the project (for service agent names)."
  value       = data.google_project.this.number
}

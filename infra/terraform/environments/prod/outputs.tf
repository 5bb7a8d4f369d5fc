# Read by infra/gcp.py (make verify-gcp, web-deploy, check-secrets-gcp): keep the names.

output "function_urls" {
  description = "function => HTTPS URL."
  value       = module.functions.urls
}

output "job_names" {
  description = "job => Cloud Run job name."
  value       = module.jobs.names
}

output "secret_ids" {
  description = "secret key => Secret Manager id."
  value       = { for key, s in module.secrets.secrets : key => s.id }
}

output "raw_bucket" {
  description = "EVENTPULSE_GCS_BUCKET."
  value       = module.storage.raw_bucket
}

output "images_repository" {
  description = "Where make deploy-gcp pushes the jobs image."
  value       = module.storage.images_repository
}

output "web_bucket" {
  description = "Bucket of the dashboard bundle."
  value       = module.storage.web_bucket
}

output "web_url" {
  description = "Base URL behind the load balancer (null without a domain)."
  value       = local.web_enabled ? module.web[0].url : null
}

output "web_ip" {
  description = "Address of the load balancer: the domain's A record (null without a domain)."
  value       = local.web_enabled ? module.web[0].ip_address : null
}

output "cloud_sql_instance" {
  description = "Cloud SQL instance (null when bringing your own database)."
  value       = module.data.cloud_sql_instance
}

output "cloud_sql_users" {
  description = "The IAM database users of the functions and jobs (empty without Cloud SQL)."
  value       = concat(values(module.functions.database_users), values(module.jobs.database_users))
}

output "cloud_sql_connection_name" {
  description = "EVENTPULSE_CLOUDSQL_INSTANCE of every function and job (null when bringing your own database)."
  value       = module.data.cloud_sql == null ? null : module.data.cloud_sql.connection_name
}

variable "project_id" {
  description = "Google Cloud project to deploy into (make init PROJECT_ID=...)."
  type        = string
}

variable "region" {
  description = "Region of every regional resource (make init REGION=...)."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every resource name; one per environment in a project."
  type        = string
  default     = "ep-prod"
}

variable "bundle_dir" {
  description = "Folder holding the function archives of `make bundle`."
  type        = string
  default     = "../../../../build/bundles"
}

variable "jobs_image" {
  description = "Container image of the Cloud Run jobs (make deploy-gcp builds and passes it)."
  type        = string
}

variable "device_registry" {
  description = "EVENTPULSE_DEVICE_REGISTRY: firestore or postgres."
  type        = string
  default     = "firestore"
}

variable "enable_cloud_sql" {
  description = "Create a Cloud SQL Postgres instance (false: bring your own DATABASE_URL via make db-secret)."
  type        = bool
  default     = true
}

variable "domain" {
  description = "DNS name for the load balancer with IAP in front of the dashboard and API (null: no load balancer)."
  type        = string
}

variable "iap_members" {
  description = "Who may pass the identity-aware proxy (user:..., group:...)."
  type        = list(string)
  default     = []
}

variable "notification_email" {
  description = "Where alerts are sent (null: nowhere but the console)."
  type        = string
  default     = null
}

variable "prune_older_than_days" {
  description = "Retention of audit events and final ingestions (the daily prune job)."
  type        = number
  default     = 90
}

variable "deletion_protection" {
  description = "Protect the Firestore database and Cloud SQL instance from deletion."
  type        = bool
  default     = true
}

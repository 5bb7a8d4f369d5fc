# The Cloud Tasks queue that delivers ingestion ids to process_task, and the account whose OIDC token
# the tasks carry. The retry config is the one the code expects (adapters/queue_cloud_tasks.py,
# RETRY_CONFIG; tests/unit/test_terraform_agrees.py keeps the two equal).

variable "project_id" {
  description = "Project of the queue."
  type        = string
}

variable "region" {
  description = "Location of the queue (EVENTPULSE_TASKS_LOCATION)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of the service account id."
  type        = string
}

variable "queue_name" {
  description = "Queue name (EVENTPULSE_TASKS_QUEUE). A deleted queue's name cannot be reused for 7 days."
  type        = string
  default     = "eventpulse-ingest"
}

variable "max_dispatches_per_second" {
  description = "Most tasks dispatched per second (each is one file processed by process_task)."
  type        = number
  default     = 5
}

variable "max_concurrent_dispatches" {
  description = "Most tasks in flight at once; keep it at or below process_task's max instances."
  type        = number
  default     = 10
}

resource "google_cloud_tasks_queue" "ingest" {
  project  = var.project_id
  name     = var.queue_name
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.max_dispatches_per_second
    max_concurrent_dispatches = var.max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = 10
    min_backoff        = "10s"
    max_backoff        = "600s"
    max_doublings      = 5
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_service_account" "tasks_invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-tasks-invoker"
  display_name = "EventPulse: OIDC identity of Cloud Tasks calling process_task"
}

output "queue_name" {
  description = "Queue name (EVENTPULSE_TASKS_QUEUE)."
  value       = google_cloud_tasks_queue.ingest.name
}

output "queue_id" {
  description = "Full resource id of the queue."
  value       = google_cloud_tasks_queue.ingest.id
}

output "location" {
  description = "Queue location (EVENTPULSE_TASKS_LOCATION)."
  value       = google_cloud_tasks_queue.ingest.location
}

output "invoker_email" {
  description = "EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT."
  value       = google_service_account.tasks_invoker.email
}

output "invoker_id" {
  description = "Resource id of the invoker account (for actAs grants)."
  value       = google_service_account.tasks_invoker.name
}

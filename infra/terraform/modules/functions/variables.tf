variable "project_id" {
  description = "Project of the functions."
  type        = string
}

variable "region" {
  description = "Region of the functions (the raw bucket's location, for the storage trigger)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
}

variable "bundle_dir" {
  description = "Folder holding <function>.zip from `make bundle` (infra/bundle.py)."
  type        = string
}

variable "sources_bucket" {
  description = "Bucket the source archives are uploaded to."
  type        = string
}

variable "raw_bucket" {
  description = "The raw landing bucket (EVENTPULSE_GCS_BUCKET)."
  type        = string
}

variable "tasks_queue" {
  description = "Cloud Tasks queue name (EVENTPULSE_TASKS_QUEUE)."
  type        = string
}

variable "tasks_location" {
  description = "Cloud Tasks location (EVENTPULSE_TASKS_LOCATION)."
  type        = string
}

variable "tasks_invoker_email" {
  description = "Service account of the tasks' OIDC token (EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT)."
  type        = string
}

variable "tasks_invoker_id" {
  description = "Resource id of that account (the enqueuers get actAs on it)."
  type        = string
}

variable "secrets" {
  description = "secret key => {id, env}, from the secrets module."
  type        = map(object({ id = string, env = string }))
}

variable "device_registry" {
  description = "EVENTPULSE_DEVICE_REGISTRY: firestore (the data module's database) or postgres."
  type        = string
  default     = "firestore"

  validation {
    condition     = contains(["firestore", "postgres"], var.device_registry)
    error_message = "device_registry must be firestore or postgres."
  }
}

variable "firestore_database" {
  description = "EVENTPULSE_FIRESTORE_DATABASE."
  type        = string
}

variable "trusted_proxy_hops" {
  description = "EVENTPULSE_TRUSTED_PROXY_HOPS of the public HTTP functions: 1 behind Google's front end, 2 behind the load balancer too."
  type        = number
  default     = 1
}

variable "process_timeout_seconds" {
  description = "process_task's timeout, and EVENTPULSE_JOB_TIMEOUT_SECONDS of the enqueuers (the tasks' dispatch deadline); at most 1800, Cloud Tasks' cap."
  type        = number
  default     = 1800

  validation {
    condition     = var.process_timeout_seconds >= 60 && var.process_timeout_seconds <= 1800
    error_message = "process_timeout_seconds must be between 60 and 1800 (Cloud Tasks' dispatch deadline cap)."
  }
}

variable "public_ingress" {
  description = "Ingress of the public HTTP functions: ALLOW_ALL, or ALLOW_INTERNAL_AND_GCLB behind the web module's load balancer."
  type        = string
  default     = "ALLOW_ALL"
}

variable "cloud_sql" {
  description = "The data module's Cloud SQL instance ({instance, connection_name, database}): connect through the Cloud SQL Python connector with IAM database auth (null: bring your own DATABASE_URL)."
  type        = object({ instance = string, connection_name = string, database = string })
  default     = null
}

variable "vpc_connector" {
  description = "Serverless VPC Access connector to reach a private Cloud SQL (null: none)."
  type        = string
  default     = null
}

variable "max_instances" {
  description = "Most instances of each function (process_task: keep at least the queue's max concurrent dispatches)."
  type        = map(number)
  default = {
    signed_url   = 10
    gcs_finalize = 10
    process_task = 10
    api          = 10
    edge_enroll  = 5
    edge_ingest  = 20
  }
}

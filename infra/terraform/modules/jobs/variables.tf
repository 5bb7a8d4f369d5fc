variable "project_id" {
  description = "Project of the jobs."
  type        = string
}

variable "region" {
  description = "Region of the jobs and their schedules."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
}

variable "image" {
  description = "Container image holding the project (built by make deploy-gcp from the repository)."
  type        = string
}

variable "raw_bucket" {
  description = "The raw landing bucket."
  type        = string
}

variable "tasks_queue" {
  description = "Cloud Tasks queue name."
  type        = string
}

variable "tasks_location" {
  description = "Cloud Tasks location."
  type        = string
}

variable "tasks_invoker_id" {
  description = "Resource id of the tasks invoker account (the enqueuing jobs get actAs on it)."
  type        = string
}

variable "env_sets" {
  description = "The settings groups, from the functions module."
  type        = map(map(string))
}

variable "secrets" {
  description = "secret key => {id, env}, from the secrets module."
  type        = map(object({ id = string, env = string }))
}

variable "device_registry" {
  description = "EVENTPULSE_DEVICE_REGISTRY (firestore grants the registry role)."
  type        = string
  default     = "firestore"
}

variable "firestore_database" {
  description = "Firestore database of the device registry."
  type        = string
}

variable "prune_older_than_days" {
  description = "Age in days past which the daily prune deletes audit events and final ingestions."
  type        = number
  default     = 90
}

variable "time_zone" {
  description = "Time zone of the schedules."
  type        = string
  default     = "Etc/UTC"
}

variable "cloud_sql" {
  description = "The data module's Cloud SQL instance ({instance, connection_name, database}); null: bring your own DATABASE_URL."
  type        = object({ instance = string, connection_name = string, database = string })
  default     = null
}

variable "vpc_connector" {
  description = "Serverless VPC Access connector to reach a private Cloud SQL (null: none)."
  type        = string
  default     = null
}

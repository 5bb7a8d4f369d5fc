# The Google APIs a deployment calls. Disabling them on destroy is left off: other workloads of the
# project may use them too.

variable "project_id" {
  description = "Project to enable the APIs in."
  type        = string
}

variable "enable_cloud_sql" {
  description = "Also enable the Cloud SQL Admin, Service Networking and VPC Access APIs."
  type        = bool
  default     = false
}

locals {
  services = concat(
    [
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudscheduler.googleapis.com",
      "cloudtasks.googleapis.com",
      "compute.googleapis.com",
      "eventarc.googleapis.com",
      "firestore.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com",
      "iap.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    var.enable_cloud_sql ? ["servicenetworking.googleapis.com", "sqladmin.googleapis.com", "vpcaccess.googleapis.com"] : [],
  )
}

resource "google_project_service" "service" {
  for_each           = toset(local.services)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

output "enabled" {
  description = "The APIs enabled (depend on this before creating resources)."
  value       = [for s in google_project_service.service : s.service]
}

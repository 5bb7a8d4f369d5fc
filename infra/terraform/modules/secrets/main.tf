# Secret Manager secrets. Terraform creates only the containers: the values are added as versions by
# the Make targets (make db-secret, task-token-secret, ingest-token-secret, edge-enroll-token-secret),
# so no secret value ever enters the Terraform state. Each is mounted (and readable) only by the
# services whose code reads the setting: see `secrets` in the functions and jobs modules.

variable "project_id" {
  description = "Project of the secrets."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every secret id."
  type        = string
}

locals {
  # secret key => the setting it fills (what the code reads)
  secrets = {
    database_url             = "DATABASE_URL"
    api_tokens               = "EVENTPULSE_API_TOKENS"
    task_token_sha256        = "EVENTPULSE_TASK_TOKEN_SHA256"
    edge_enroll_token_sha256 = "EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256"
    device_token_pepper      = "EVENTPULSE_DEVICE_TOKEN_PEPPER"
  }
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = "${var.name_prefix}-${replace(each.key, "_", "-")}"

  replication {
    auto {}
  }

  labels = {
    app     = "eventpulse"
    setting = lower(replace(each.value, "_", "-"))
  }
}

output "secrets" {
  description = "secret key => {id, env}: the Secret Manager id and the setting it fills."
  value = {
    for key, env in local.secrets : key => {
      id  = google_secret_manager_secret.secret[key].secret_id
      env = env
    }
  }
}

# Data stores: the Firestore database of the device registry (EVENTPULSE_DEVICE_REGISTRY=firestore)
# and, optionally, a Cloud SQL Postgres instance for the metadata and curated store. Without Cloud SQL
# bring your own Postgres: `make db-secret DATABASE_URL=...` stores its URL.
#
# Cloud SQL is reached through the Cloud SQL Python connector (adapters/postgres/cloudsql.py) over
# the instance's private IP and a Serverless VPC Access connector: mutual TLS with the connector's
# ephemeral certificate (the instance accepts nothing else) and IAM database authentication, so no
# password exists. The functions and jobs modules create one IAM database user per service account.

variable "project_id" {
  description = "Project of the data stores."
  type        = string
}

variable "region" {
  description = "Region of the Firestore database and the Cloud SQL instance."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
}

variable "firestore_database" {
  description = "Firestore database id of the device registry (EVENTPULSE_FIRESTORE_DATABASE)."
  type        = string
  default     = "eventpulse-devices"
}

variable "enable_cloud_sql" {
  description = "Create a Cloud SQL Postgres instance (false: bring your own DATABASE_URL)."
  type        = bool
  default     = false
}

variable "cloud_sql_tier" {
  description = "Machine tier of the instance."
  type        = string
  default     = "db-custom-2-7680"
}

variable "cloud_sql_high_availability" {
  description = "REGIONAL (a standby in another zone) instead of ZONAL."
  type        = bool
  default     = false
}

variable "connector_cidr" {
  description = "A free /28 of the VPC for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "deletion_protection" {
  description = "Refuse to delete the Firestore database and the Cloud SQL instance."
  type        = bool
  default     = true
}

resource "google_firestore_database" "devices" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"
}

resource "google_compute_network" "vpc" {
  count                   = var.enable_cloud_sql ? 1 : 0
  project                 = var.project_id
  name                    = "${var.name_prefix}-vpc"
  auto_create_subnetworks = false
}

# Nothing but the connector and the private services peering talks on this network: deny the rest.
resource "google_compute_firewall" "deny_ingress" {
  count     = var.enable_cloud_sql ? 1 : 0
  project   = var.project_id
  name      = "${var.name_prefix}-deny-ingress"
  network   = google_compute_network.vpc[0].name
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_global_address" "sql_range" {
  count         = var.enable_cloud_sql ? 1 : 0
  project       = var.project_id
  name          = "${var.name_prefix}-sql-range"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.vpc[0].id
}

resource "google_service_networking_connection" "sql" {
  count                   = var.enable_cloud_sql ? 1 : 0
  network                 = google_compute_network.vpc[0].id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.sql_range[0].name]
}

resource "google_vpc_access_connector" "connector" {
  count         = var.enable_cloud_sql ? 1 : 0
  project       = var.project_id
  name          = "${var.name_prefix}-conn"
  region        = var.region
  network       = google_compute_network.vpc[0].name
  ip_cidr_range = var.connector_cidr
  min_instances = 2
  max_instances = 3
}

resource "google_sql_database_instance" "postgres" {
  count               = var.enable_cloud_sql ? 1 : 0
  project             = var.project_id
  name                = "${var.name_prefix}-postgres"
  region              = var.region
  database_version    = "POSTGRES_18"
  deletion_protection = var.deletion_protection
  depends_on          = [google_service_networking_connection.sql]

  settings {
    tier              = var.cloud_sql_tier
    availability_type = var.cloud_sql_high_availability ? "REGIONAL" : "ZONAL"
    disk_autoresize   = true

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.vpc[0].id
      ssl_mode        = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED" # the connector: mutual TLS, its own certificate
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "03:00"

      backup_retention_settings {
        retained_backups = 14
      }
    }

    insights_config {
      query_insights_enabled = true
    }

    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    # The services log in as their service accounts (google_sql_user CLOUD_IAM_SERVICE_ACCOUNT).
    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
  }
}

resource "google_sql_database" "eventpulse" {
  count    = var.enable_cloud_sql ? 1 : 0
  project  = var.project_id
  name     = "eventpulse"
  instance = google_sql_database_instance.postgres[0].name
}

output "firestore_database" {
  description = "EVENTPULSE_FIRESTORE_DATABASE."
  value       = google_firestore_database.devices.name
}

output "vpc_connector" {
  description = "Connector id for the functions and jobs (null without Cloud SQL)."
  value       = var.enable_cloud_sql ? google_vpc_access_connector.connector[0].id : null
}

output "cloud_sql" {
  description = "The instance the connector reaches: its name and connection name (EVENTPULSE_CLOUDSQL_INSTANCE); null without Cloud SQL."
  value = var.enable_cloud_sql ? {
    instance        = google_sql_database_instance.postgres[0].name
    connection_name = google_sql_database_instance.postgres[0].connection_name
    database        = google_sql_database.eventpulse[0].name
  } : null
}

output "cloud_sql_instance" {
  description = "Cloud SQL instance name (null without Cloud SQL)."
  value       = var.enable_cloud_sql ? google_sql_database_instance.postgres[0].name : null
}

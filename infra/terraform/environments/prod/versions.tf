terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 7.0"
    }
  }

  # The state bucket is created by `make init` and passed by `make infra-gcp`
  # (terraform init -backend-config=bucket=... -backend-config=prefix=...).
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}

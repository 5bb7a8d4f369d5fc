# The buckets: raw landing (the source of truth), function sources, and the dashboard bundle.
#
# Raw landing: object names are <raw_prefix><dataset>/<sha256><ext>, written create-only
# (if_generation_match=0), so nothing EventPulse does rewrites an object. Versioning keeps a
# generation that is deleted or overwritten by hand; there is NO lifecycle rule that deletes raw
# data: replay and backfill read raw objects, and only the prune job deletes them, when asked.
# Device media (photos, video) live in the same bucket under media/ (eventpulse.landing.media), and
# signed uploads without a declared sha256 land under uploads/ and are copied to raw/ on finalize.
# The dashboard's Ingest page PUTs those signed uploads from the browser: the raw bucket's CORS rule
# lets the dashboard's origin (and only it) PUT with the headers the URL is signed with.

variable "project_id" {
  description = "Project that owns the buckets."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name (e.g. ep-dev)."
  type        = string
}

variable "location" {
  description = "Bucket location; must be the functions' region for the Eventarc storage trigger."
  type        = string
}

variable "uploads_expire_days" {
  description = "Days after which an object under uploads/ (already copied to raw/ by gcs_finalize) is deleted."
  type        = number
  default     = 7
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete non-empty buckets (never in prod)."
  type        = bool
  default     = false
}

variable "access_log_bucket" {
  description = "Bucket receiving usage logs of the raw bucket (null: no usage logs)."
  type        = string
  default     = null
}

variable "cors_origins" {
  description = "Origins whose pages may PUT signed uploads into the raw bucket from a browser: the dashboard's (https://<domain>); empty: no CORS rule."
  type        = list(string)
  default     = []
  validation {
    condition     = !contains(var.cors_origins, "*")
    error_message = "cors_origins lists the dashboard's origin; \"*\" would let any site's pages PUT."
  }
}

variable "web_public" {
  description = "Let allUsers read the dashboard bundle (a static bundle holding no secret; the API stays behind its tokens and the proxy)."
  type        = bool
  default     = false
}

locals {
  uploads_prefix = "uploads/"
  # Every header eventpulse.cloud.signed_url signs (SIGNED_UPLOAD_HEADERS): a browser's preflight must
  # be allowed to send each; tests/unit/test_terraform_agrees.py keeps the two equal.
  signed_upload_headers = [
    "content-type",
    "x-goog-if-generation-match",
    "x-goog-meta-dataset",
    "x-goog-meta-filename",
    "x-goog-meta-sha256",
    "x-goog-meta-source",
  ]
}

resource "google_storage_bucket" "raw" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-raw"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = true
  }

  # Only the staging prefix expires; raw/ and media/ have no delete rule.
  lifecycle_rule {
    condition {
      age            = var.uploads_expire_days
      matches_prefix = [local.uploads_prefix]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.uploads_expire_days
      matches_prefix             = [local.uploads_prefix]
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  # The browser's PUT of a signed upload (the Ingest page); the signature, not CORS, authorises it.
  dynamic "cors" {
    for_each = length(var.cors_origins) == 0 ? [] : [var.cors_origins]
    content {
      origin          = cors.value
      method          = ["PUT"]
      response_header = local.signed_upload_headers
      max_age_seconds = 3600
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket = logging.value
    }
  }

  labels = {
    app  = "eventpulse"
    data = "raw"
  }
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Function archives built from the repository; Cloud Audit Logs record access, usage logs add nothing
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = true
  }

  labels = {
    app  = "eventpulse"
    data = "function-sources"
  }
}

resource "google_storage_bucket" "web" {
  #checkov:skip=CKV_GCP_62:Static dashboard bundle; Cloud Audit Logs and the load balancer log record access
  #checkov:skip=CKV_GCP_114:Public only with the load balancer (web_public): the bundle holds no secret, IAP guards the API
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-web"
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = var.web_public ? "inherited" : "enforced"
  force_destroy               = true

  versioning {
    enabled = true
  }

  website {
    main_page_suffix = "index.html"
    not_found_page   = "index.html"
  }

  labels = {
    app  = "eventpulse"
    data = "dashboard"
  }
}

# The container image of the Cloud Run jobs (make deploy-gcp builds it from the repository).
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Images are built from the repository's own code; Google-managed encryption (no key ring to run)
  project       = var.project_id
  location      = var.location
  repository_id = "${var.name_prefix}-images"
  format        = "DOCKER"
  description   = "EventPulse job images"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
}

resource "google_storage_bucket_iam_member" "web_public" {
  #checkov:skip=CKV_GCP_28:The dashboard bundle is static and holds no secret; every API call it makes goes through IAP
  count  = var.web_public ? 1 : 0
  bucket = google_storage_bucket.web.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

output "raw_bucket" {
  description = "Name of the raw landing bucket (EVENTPULSE_GCS_BUCKET)."
  value       = google_storage_bucket.raw.name
}

output "sources_bucket" {
  description = "Bucket holding the function source archives."
  value       = google_storage_bucket.sources.name
}

output "images_repository" {
  description = "Artifact Registry path of the job images (<location>-docker.pkg.dev/<project>/<repository>)."
  value       = "${var.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "web_bucket" {
  description = "Bucket holding the dashboard bundle (make web-deploy)."
  value       = google_storage_bucket.web.name
}

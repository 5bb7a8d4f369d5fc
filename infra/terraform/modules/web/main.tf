# One HTTPS load balancer in front of the dashboard bundle and the HTTP functions:
#   /api/edge/enroll -> edge_enroll, /api/edge/* -> edge_ingest (devices: their own tokens, no proxy)
#   /api/*, /internal/*, /health, /readyz -> api, behind the identity-aware proxy
#   /api/docs, and everything else -> the web bucket (the static dashboard bundle)
# IAP protects backend services only, not backend buckets: the bundle (which holds no secret) is
# served from the bucket, and every API call it makes goes through IAP (docs/DEPLOY_GCP.md, "The
# dashboard and the load balancer"). Set the public functions' ingress to ALLOW_INTERNAL_AND_GCLB so
# that IAP cannot be bypassed through their run.app URLs.

variable "project_id" {
  description = "Project of the load balancer."
  type        = string
}

variable "region" {
  description = "Region of the functions."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
}

variable "domain" {
  description = "DNS name the dashboard and API are served on (a managed certificate is issued for it)."
  type        = string
}

variable "web_bucket" {
  description = "Bucket holding the dashboard bundle."
  type        = string
}

variable "services" {
  description = "function => its Cloud Run service name (api, edge_enroll, edge_ingest are used)."
  type        = map(string)
}

variable "iap_members" {
  description = "Who may pass the proxy (user:..., group:..., domain:...)."
  type        = list(string)
  default     = []
}

variable "security_policy" {
  description = "Cloud Armor policy attached to every backend service (null: none)."
  type        = string
  default     = null
}

locals {
  backends = {
    api         = { iap = true }
    edge_enroll = { iap = false }
    edge_ingest = { iap = false }
  }
}

resource "google_compute_global_address" "web" {
  project = var.project_id
  name    = "${var.name_prefix}-web"
}

resource "google_compute_managed_ssl_certificate" "web" {
  project = var.project_id
  name    = "${var.name_prefix}-web"
  managed {
    domains = [var.domain]
  }
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each              = local.backends
  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = var.services[each.key]
  }
}

resource "google_compute_backend_service" "function" {
  for_each              = local.backends
  project               = var.project_id
  name                  = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = var.security_policy

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }

  dynamic "iap" {
    for_each = each.value.iap ? [each.key] : []
    content {
      enabled = true
    }
  }
}

resource "google_iap_web_backend_service_iam_member" "access" {
  for_each            = toset(var.iap_members)
  project             = var.project_id
  web_backend_service = google_compute_backend_service.function["api"].name
  role                = "roles/iap.httpsResourceAccessor"
  member              = each.value
}

# The headers eventpulse serve adds to the dashboard's responses (api/web.py build_security_headers,
# with the API on the same origin and the GCS landing: the Ingest page PUTs signed-URL uploads to
# https://storage.googleapis.com); tests/unit/test_terraform_agrees.py keeps the two equal.
resource "google_compute_backend_bucket" "web" {
  project     = var.project_id
  name        = "${var.name_prefix}-web"
  bucket_name = var.web_bucket
  enable_cdn  = false
  custom_response_headers = [
    "Content-Security-Policy: default-src 'self'; img-src 'self' data: https://storage.googleapis.com; media-src 'self' https://storage.googleapis.com; style-src 'self' 'unsafe-inline'; connect-src 'self' https://storage.googleapis.com; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options: nosniff",
    "Referrer-Policy: no-referrer",
  ]
}

resource "google_compute_url_map" "web" {
  project         = var.project_id
  name            = "${var.name_prefix}-web"
  default_service = google_compute_backend_bucket.web.id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "eventpulse"
  }

  path_matcher {
    name            = "eventpulse"
    default_service = google_compute_backend_bucket.web.id

    # The API docs page is part of the bundle (api/web.py serves it at /api/docs locally).
    path_rule {
      paths   = ["/api/docs", "/api/docs/"]
      service = google_compute_backend_bucket.web.id
      route_action {
        url_rewrite {
          path_prefix_rewrite = "/api-docs.html"
        }
      }
    }
    path_rule {
      paths   = ["/api/edge/enroll"]
      service = google_compute_backend_service.function["edge_enroll"].id
    }
    path_rule {
      paths   = ["/api/edge/*"]
      service = google_compute_backend_service.function["edge_ingest"].id
    }
    path_rule {
      paths   = ["/api/*", "/internal/*", "/health", "/readyz"]
      service = google_compute_backend_service.function["api"].id
    }
  }
}

resource "google_compute_ssl_policy" "web" {
  project         = var.project_id
  name            = "${var.name_prefix}-web"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "web" {
  project          = var.project_id
  name             = "${var.name_prefix}-web"
  url_map          = google_compute_url_map.web.id
  ssl_certificates = [google_compute_managed_ssl_certificate.web.id]
  ssl_policy       = google_compute_ssl_policy.web.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name_prefix}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.web.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.web.id
}

resource "google_compute_url_map" "redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"
  default_url_redirect {
    https_redirect = true
    strip_query    = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name_prefix}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.web.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}

output "ip_address" {
  description = "Point the domain's A record here."
  value       = google_compute_global_address.web.address
}

output "url" {
  description = "Base URL of the dashboard and the API."
  value       = "https://${var.domain}"
}

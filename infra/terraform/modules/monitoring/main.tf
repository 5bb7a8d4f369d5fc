# Log-based metrics on the lines the code writes (docs/OBSERVABILITY.md), alert policies on them, and
# a Cloud Monitoring dashboard. Every filter names the logger (the Python module) and a fragment of
# the message format it logs; tests/unit/test_terraform_agrees.py checks both against the code.

variable "project_id" {
  description = "Project of the metrics, alerts and dashboard."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of metric, policy and dashboard names."
  type        = string
}

variable "tasks_queue" {
  description = "Cloud Tasks queue whose depth is watched."
  type        = string
}

variable "reclaim_job" {
  description = "Cloud Run job name of reclaim_stuck (its stdout lists what it reclaimed)."
  type        = string
}

variable "notification_email" {
  description = "Email address alerts go to (null: only notification_channels)."
  type        = string
  default     = null
}

variable "notification_channels" {
  description = "Existing notification channel ids alerts go to."
  type        = list(string)
  default     = []
}

variable "queue_depth_threshold" {
  description = "Tasks waiting in the queue for 30 minutes that count as stuck work."
  type        = number
  default     = 100
}

locals {
  metric_prefix = replace(var.name_prefix, "-", "_")
  functions     = "resource.type=\"cloud_run_revision\""
  jobs          = "resource.type=\"cloud_run_job\""

  # name => (filter, label extractors). Counters: one per matching line.
  counters = {
    failed_ingestions = {
      description = "Ingestions that ended FAILED_* (process_task's answer to Cloud Tasks)"
      filter      = "${local.functions} AND jsonPayload.logger=\"eventpulse.cloud.tasks\" AND jsonPayload.message=~\"-> HTTP [0-9]+ FAILED_\""
      labels      = { status = "REGEXP_EXTRACT(jsonPayload.message, \"-> HTTP [0-9]+ (FAILED_[A-Z_]+)\")" }
    }
    processing_errors = {
      description = "Processing attempts that failed with an exception (retried until max attempts)"
      filter      = "${local.functions} AND jsonPayload.logger=\"eventpulse.pipeline.processor\" AND severity=ERROR AND jsonPayload.message=~\"attempt [0-9]+ of [0-9]+ failed\""
      labels      = {}
    }
    stuck_work = {
      description = "Ingestions the reclaim job had to deliver again (stale claim, lost delivery, retry)"
      filter      = "${local.jobs} AND resource.labels.job_name=\"${var.reclaim_job}\" AND textPayload=~\"  (stale claim|delivery lost|retry)$\""
      labels      = { reason = "REGEXP_EXTRACT(textPayload, \"  (stale claim|delivery lost|retry)$\")" }
    }
    quarantined_files = {
      description = "Files held whole in QUARANTINED (awaiting approval)"
      filter      = "${local.functions} AND jsonPayload.logger=\"eventpulse.cloud.tasks\" AND jsonPayload.message=~\"-> HTTP 200 QUARANTINED\""
      labels      = {}
    }
    quarantined_loads = {
      description = "Loads that held rows back in the row quarantine"
      filter      = "${local.functions} AND jsonPayload.logger=\"eventpulse.pipeline.loading\" AND jsonPayload.message=~\"\\\\([1-9][0-9]* held back\\\\)\""
      labels      = { dataset = "EXTRACT(jsonPayload.dataset)" }
    }
    push_failures = {
      description = "OpenLineage events whose push failed (retried from the outbox)"
      filter      = "jsonPayload.logger=\"eventpulse.pipeline.lineage_push\" AND jsonPayload.message=~\"not pushed \\\\(attempt\""
      labels      = {}
    }
  }

  # name => (filter, the number to take from the line). Distributions.
  distributions = {
    quarantined_rows = {
      description = "Rows held back per load (row quarantine)"
      filter      = "${local.functions} AND jsonPayload.logger=\"eventpulse.pipeline.loading\" AND jsonPayload.message=~\"held back\\\\)\""
      value       = "REGEXP_EXTRACT(jsonPayload.message, \"\\\\(([0-9]+) held back\\\\)\")"
    }
    offline_devices = {
      description = "Devices shown offline at each device sweep"
      filter      = "${local.jobs} AND jsonPayload.logger=\"eventpulse.jobs.device_sweep\" AND jsonPayload.message=~\"^device sweep: \""
      value       = "REGEXP_EXTRACT(jsonPayload.message, \"checked, ([0-9]+) offline\")"
    }
  }
}

resource "google_logging_metric" "counter" {
  for_each    = local.counters
  project     = var.project_id
  name        = "${local.metric_prefix}_${each.key}"
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  label_extractors = each.value.labels
}

resource "google_logging_metric" "distribution" {
  for_each        = local.distributions
  project         = var.project_id
  name            = "${local.metric_prefix}_${each.key}"
  description     = each.value.description
  filter          = each.value.filter
  value_extractor = each.value.value

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 1
    }
  }
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.notification_email == null ? 0 : 1
  project      = var.project_id
  display_name = "EventPulse on-call (${var.name_prefix})"
  type         = "email"
  labels = {
    email_address = var.notification_email
  }
}

locals {
  channels = concat(var.notification_channels, google_monitoring_notification_channel.email[*].id)

  # alert => the metric it watches, how it is reduced, and the runbook section that says what to do.
  alerts = {
    failed_ingestions = {
      metric    = "failed_ingestions"
      aligner   = "ALIGN_SUM"
      window    = "600s"
      threshold = 0
      severity  = "ERROR"
      runbook   = "docs/RUNBOOKS/INGESTION.md#a-failed-ingestion"
    }
    stuck_work = {
      metric    = "stuck_work"
      aligner   = "ALIGN_SUM"
      window    = "1800s"
      threshold = 0
      severity  = "WARNING"
      runbook   = "docs/RUNBOOKS/INGESTION.md#stuck-work"
    }
    quarantined_rows = {
      metric    = "quarantined_loads"
      aligner   = "ALIGN_SUM"
      window    = "3600s"
      threshold = 0
      severity  = "WARNING"
      runbook   = "docs/RUNBOOKS/INGESTION.md#quarantined-rows-or-files"
    }
    quarantined_files = {
      metric    = "quarantined_files"
      aligner   = "ALIGN_SUM"
      window    = "3600s"
      threshold = 0
      severity  = "WARNING"
      runbook   = "docs/RUNBOOKS/INGESTION.md#quarantined-rows-or-files"
    }
    offline_devices = {
      metric    = "offline_devices"
      aligner   = "ALIGN_PERCENTILE_99"
      window    = "900s"
      threshold = 0.5
      severity  = "WARNING"
      runbook   = "docs/RUNBOOKS/EDGE_DEVICES.md#offline-devices"
    }
    push_failures = {
      metric    = "push_failures"
      aligner   = "ALIGN_SUM"
      window    = "1800s"
      threshold = 0
      severity  = "WARNING"
      runbook   = "docs/RUNBOOKS/INCIDENT.md#lineage-pushes-failing"
    }
  }

  metric_names = merge(
    { for k, m in google_logging_metric.counter : k => m.name },
    { for k, m in google_logging_metric.distribution : k => m.name },
  )
}

resource "google_monitoring_alert_policy" "log_metric" {
  for_each              = local.alerts
  project               = var.project_id
  display_name          = "EventPulse ${var.name_prefix}: ${replace(each.key, "_", " ")}"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = local.channels

  conditions {
    display_name = "${each.value.metric} above ${each.value.threshold}"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${local.metric_names[each.value.metric]}\""
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"

      aggregations {
        alignment_period     = each.value.window
        per_series_aligner   = each.value.aligner
        cross_series_reducer = each.value.aligner == "ALIGN_SUM" ? "REDUCE_SUM" : "REDUCE_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "See ${each.value.runbook} in the EventPulse repository."
  }
}

resource "google_monitoring_alert_policy" "queue_depth" {
  project               = var.project_id
  display_name          = "EventPulse ${var.name_prefix}: tasks waiting"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels

  conditions {
    display_name = "queue depth above ${var.queue_depth_threshold} for 30 minutes"
    condition_threshold {
      filter          = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=\"${var.tasks_queue}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_depth_threshold
      duration        = "1800s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "See docs/RUNBOOKS/INGESTION.md#stuck-work in the EventPulse repository."
  }
}

resource "google_monitoring_dashboard" "eventpulse" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json", {
    prefix      = var.name_prefix
    metric      = local.metric_prefix
    tasks_queue = var.tasks_queue
  })
}

output "metrics" {
  description = "metric key => log-based metric name."
  value       = local.metric_names
}

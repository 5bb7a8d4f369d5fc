# The Cloud Run jobs of jobs/ (one image holding the project; each runs `python jobs/<name>/main.py`)
# with their own service accounts, and the Cloud Scheduler triggers of the scheduled ones. replay
# runs on demand: `gcloud run jobs execute <prefix>-replay --args=jobs/replay/main.py,--dataset,D`.
# Every job reads the database: with Cloud SQL each gets the connector's settings (group database),
# its own IAM database user and the Cloud SQL roles, as the functions do.

locals {
  jobs = {
    reclaim_stuck = {
      args                = []
      schedule            = "*/5 * * * *"
      timeout             = "600s"
      env_sets            = ["common", "database", "queue"]
      secrets             = ["database_url"]
      raw_bucket_roles    = []
      queue_roles         = ["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"]
      tasks_invoker_roles = ["roles/iam.serviceAccountUser"]
      project_roles       = []
    }
    prune_retention = {
      args                = ["--older-than-days", tostring(var.prune_older_than_days), "--apply"]
      schedule            = "30 3 * * *"
      timeout             = "3600s"
      env_sets            = ["common", "database"]
      secrets             = ["database_url"]
      raw_bucket_roles    = []
      queue_roles         = []
      tasks_invoker_roles = []
      project_roles       = []
    }
    replay = {
      args                = []
      schedule            = null
      timeout             = "3600s"
      env_sets            = ["common", "database", "queue"]
      secrets             = ["database_url"]
      raw_bucket_roles    = ["roles/storage.objectViewer"]
      queue_roles         = ["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"]
      tasks_invoker_roles = ["roles/iam.serviceAccountUser"]
      project_roles       = []
    }
    device_sweep = {
      args                = []
      schedule            = "*/5 * * * *"
      timeout             = "600s"
      env_sets            = ["common", "database"]
      secrets             = ["database_url"]
      raw_bucket_roles    = []
      queue_roles         = []
      tasks_invoker_roles = []
      project_roles       = ["roles/datastore.user"]
    }
  }

  scheduled = { for name, j in local.jobs : name => j if j.schedule != null }

  # With Cloud SQL each job logs in as its own account: a DATABASE_URL without password or host,
  # instead of the database_url secret (as in the functions module).
  iam_database_env = {
    for name, user in google_sql_user.iam : name => {
      DATABASE_URL = "postgresql://${urlencode(user.name)}@/${var.cloud_sql.database}"
    }
  }
  mounted_secrets = {
    for name, j in local.jobs : name => [for secret in j.secrets : secret if secret != "database_url" || var.cloud_sql == null]
  }
  cloud_sql_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]

  grants = {
    raw_bucket    = { for g in flatten([for name, j in local.jobs : [for role in j.raw_bucket_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    queue         = { for g in flatten([for name, j in local.jobs : [for role in j.queue_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    tasks_invoker = { for g in flatten([for name, j in local.jobs : [for role in j.tasks_invoker_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g }
    project       = { for g in flatten([for name, j in local.jobs : [for role in j.project_roles : { name = name, role = role }]]) : "${g.name}/${g.role}" => g if g.role != "roles/datastore.user" || var.device_registry == "firestore" }
    secret        = { for g in flatten([for name, j in local.jobs : [for secret in local.mounted_secrets[name] : { name = name, secret = secret }]]) : "${g.name}/${g.secret}" => g }
    cloud_sql     = { for g in flatten([for name, j in local.jobs : [for role in local.cloud_sql_roles : { name = name, role = role }] if contains(j.secrets, "database_url")]) : "${g.name}/${g.role}" => g if var.cloud_sql != null }
    sql_user      = { for name, j in local.jobs : name => j if contains(j.secrets, "database_url") && var.cloud_sql != null }
  }
}

resource "google_service_account" "job" {
  for_each     = local.jobs
  project      = var.project_id
  account_id   = "${var.name_prefix}-job-${replace(each.key, "_", "-")}"
  display_name = "EventPulse job ${each.key}"
}

resource "google_cloud_run_v2_job" "job" {
  for_each            = local.jobs
  project             = var.project_id
  location            = var.region
  name                = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  deletion_protection = false

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.job[each.key].email
      timeout         = each.value.timeout
      max_retries     = 1

      dynamic "vpc_access" {
        for_each = var.vpc_connector == null ? [] : [var.vpc_connector]
        content {
          connector = vpc_access.value
          egress    = "PRIVATE_RANGES_ONLY"
        }
      }

      containers {
        image   = var.image
        command = ["python"]
        args    = concat(["jobs/${each.key}/main.py"], each.value.args)

        resources {
          limits = {
            cpu    = "1"
            memory = "2Gi"
          }
        }

        # The image holds the repository as built; the core package is under shared/.
        env {
          name  = "PYTHONPATH"
          value = "shared"
        }

        dynamic "env" {
          for_each = { for k, v in merge(merge([for group in each.value.env_sets : var.env_sets[group]]...), lookup(local.iam_database_env, each.key, {})) : k => v if v != "" }
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = toset(local.mounted_secrets[each.key])
          content {
            name = var.secrets[env.value].env
            value_source {
              secret_key_ref {
                secret  = var.secrets[env.value].id
                version = "latest"
              }
            }
          }
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.accessor, google_project_iam_member.cloud_sql]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "EventPulse: Cloud Scheduler starting the jobs"
}

resource "google_cloud_run_v2_job_iam_member" "scheduler" {
  for_each = local.scheduled
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.job[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "schedule" {
  for_each  = local.scheduled
  project   = var.project_id
  region    = var.region
  name      = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  schedule  = each.value.schedule
  time_zone = var.time_zone

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.job[each.key].name}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }
}

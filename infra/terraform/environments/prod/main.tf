# The prod example: Cloud SQL (high availability), the load balancer with IAP, protected data
# stores. Copy it, set the variables in terraform.tfvars, then `make infra-gcp ENV=prod`.

locals {
  web_enabled = var.domain != null
}

module "apis" {
  source           = "../../modules/apis"
  project_id       = var.project_id
  enable_cloud_sql = var.enable_cloud_sql
}

module "storage" {
  source        = "../../modules/storage"
  project_id    = var.project_id
  name_prefix   = var.name_prefix
  location      = var.region
  force_destroy = !var.deletion_protection
  web_public    = local.web_enabled
  cors_origins  = local.web_enabled ? ["https://${var.domain}"] : []
  depends_on    = [module.apis]
}

module "tasks" {
  source      = "../../modules/tasks"
  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix
  queue_name  = "${var.name_prefix}-ingest"
  depends_on  = [module.apis]
}

module "secrets" {
  source      = "../../modules/secrets"
  project_id  = var.project_id
  name_prefix = var.name_prefix
  depends_on  = [module.apis]
}

module "data" {
  source              = "../../modules/data"
  project_id          = var.project_id
  region              = var.region
  name_prefix         = var.name_prefix
  firestore_database  = "${var.name_prefix}-devices"
  enable_cloud_sql    = var.enable_cloud_sql
  deletion_protection = var.deletion_protection
  depends_on          = [module.apis]

  cloud_sql_high_availability = true
}

module "functions" {
  source              = "../../modules/functions"
  project_id          = var.project_id
  region              = var.region
  name_prefix         = var.name_prefix
  bundle_dir          = var.bundle_dir
  sources_bucket      = module.storage.sources_bucket
  raw_bucket          = module.storage.raw_bucket
  tasks_queue         = module.tasks.queue_name
  tasks_location      = module.tasks.location
  tasks_invoker_email = module.tasks.invoker_email
  tasks_invoker_id    = module.tasks.invoker_id
  secrets             = module.secrets.secrets
  device_registry     = var.device_registry
  firestore_database  = module.data.firestore_database
  vpc_connector       = module.data.vpc_connector
  cloud_sql           = module.data.cloud_sql
  trusted_proxy_hops  = local.web_enabled ? 2 : 1
  public_ingress      = local.web_enabled ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"
}

module "jobs" {
  source                = "../../modules/jobs"
  project_id            = var.project_id
  region                = var.region
  name_prefix           = var.name_prefix
  image                 = var.jobs_image
  raw_bucket            = module.storage.raw_bucket
  tasks_queue           = module.tasks.queue_name
  tasks_location        = module.tasks.location
  tasks_invoker_id      = module.tasks.invoker_id
  env_sets              = module.functions.env_sets
  secrets               = module.secrets.secrets
  device_registry       = var.device_registry
  firestore_database    = module.data.firestore_database
  vpc_connector         = module.data.vpc_connector
  cloud_sql             = module.data.cloud_sql
  prune_older_than_days = var.prune_older_than_days
}

module "monitoring" {
  source             = "../../modules/monitoring"
  project_id         = var.project_id
  name_prefix        = var.name_prefix
  tasks_queue        = module.tasks.queue_name
  reclaim_job        = module.jobs.names["reclaim_stuck"]
  notification_email = var.notification_email
  depends_on         = [module.apis]
}

module "web" {
  count       = local.web_enabled ? 1 : 0
  source      = "../../modules/web"
  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix
  domain      = var.domain
  web_bucket  = module.storage.web_bucket
  services    = module.functions.names
  iap_members = var.iap_members
}

# EventPulse: one entry point for developers, the README and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
UV_ARGS ?=
LINT_PATHS := shared tests functions jobs emulators benchmarks tools edge_client infra/bundle.py infra/gcp.py

.DEFAULT_GOAL := help

.PHONY: help
help: ## List every target with its description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-26s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml edge_client/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "EventPulse needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip install --quiet --no-deps -e edge_client
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the hashed lock requirements-dev.txt (runs automatically when needed)

.PHONY: up
up: $(STAMP) web ## Run the platform on embedded defaults: http://localhost:8081 (dashboard, API; embedded Postgres, inline queue)
	$(BIN)/eventpulse serve

.PHONY: test
test: $(STAMP) web ## Run the whole test suite against real Postgres (127.0.0.1:5432 if it answers, else embedded)
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(STAMP) web ## Run the unit tests only (tests/unit: pure logic, no services; seconds)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: $(STAMP) ## Run the integration tests only (tests/integration: real Postgres, Redis, emulators)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: $(STAMP) web ## Run the end-to-end tests only (tests/e2e: real processes, through HTTP)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff (lint, import bans, format check), mypy, and the check that the locks match their inputs
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/python tools/locks.py check
	$(BIN)/python tools/tffmt.py check

.PHONY: watch
watch: $(STAMP) ## Watch data/incoming/<dataset>/ and register new files
	$(BIN)/eventpulse watch

.PHONY: migrate
migrate: $(STAMP) ## Apply database migrations (the server and the CLI also do this on start)
	$(BIN)/eventpulse migrate

.PHONY: demo-data
demo-data: $(STAMP) ## Write the generated demo files (every dataset, case and format) to data/demo/
	$(BIN)/eventpulse demo generate --out data/demo

.PHONY: bench
bench: $(STAMP) ## Benchmarks: run them all (or BENCH="ingest upsert ..."), then every ratio beside its target (benchmarks/out/)
	$(BIN)/python benchmarks/run.py $(BENCH)

.PHONY: bench-ingest
bench-ingest: $(STAMP) ## Benchmark: 1M-row parcels CSV, psql \copy anchor vs eventpulse end to end
	$(BIN)/python benchmarks/bench_ingest.py

.PHONY: bench-scale
bench-scale: $(STAMP) ## Benchmark: the parcels CSV at 1M and 10M rows (about 2 GB), one-shot ingest: peak RSS and time against linear, psql \copy anchors
	$(BIN)/python benchmarks/bench_scale.py

.PHONY: bench-small
bench-small: $(STAMP) ## Benchmark: 1,000 device files of 100 rows processed back to back by a warm worker (ms per file), psql \copy per file
	$(BIN)/python benchmarks/bench_small_files.py
.PHONY: bench-dlt
bench-dlt: $(STAMP) ## Benchmark: the 1M-row parcels CSV merged on parcel_id by dlt (its own venv; default and parquet/ADBC) vs eventpulse and psql \copy
	$(BIN)/python benchmarks/bench_dlt.py

.PHONY: bench-gate
bench-gate: $(STAMP) ## Benchmark: the quality gate (compiled engine) on edge_telemetry, 1M rows and 1,000 small files, vs hand-written pyarrow and GX
	$(BIN)/python benchmarks/bench_gate.py

.PHONY: bench-edge
bench-edge: $(STAMP) ## Benchmark: 20 devices, locust, 60 s of edge uploads on loopback; accept->LOADED, psql \copy anchor
	$(BIN)/python benchmarks/edge_ingest.py

.PHONY: chaos
chaos: $(STAMP) ## Fault campaign at full size: 100 kill -9s, restarts, faults, 218 hostile files, a 30-min soak (benchmarks/out/)
	EVENTPULSE_CHAOS_KILLS=$${EVENTPULSE_CHAOS_KILLS:-100} EVENTPULSE_CHAOS_TASKS_KILLS=$${EVENTPULSE_CHAOS_TASKS_KILLS:-50} \
	  EVENTPULSE_CHAOS_REPORT=benchmarks/out/kill_campaign.json \
	  $(BIN)/pytest -p no:cacheprovider --timeout 3600 -s tests/integration/test_kill_campaign.py \
	  tests/integration/test_database_restart.py tests/integration/test_disk_full.py \
	  tests/integration/test_hostile_bodies.py tests/integration/test_hostile_corpus.py \
	  tests/integration/test_redis_restart.py tests/integration/test_gcs_faults.py \
	  tests/integration/test_slow_clients.py tests/integration/test_secrets_never_leak.py $(PYTEST_ARGS)
	EVENTPULSE_SOAK_SECONDS=$${EVENTPULSE_SOAK_SECONDS:-1800} EVENTPULSE_SOAK_REPORT=benchmarks/out/soak.json \
	  $(BIN)/pytest -p no:cacheprovider --timeout 3600 -s tests/e2e/test_soak.py $(PYTEST_ARGS)

.PHONY: worker
worker: $(STAMP) ## Run an RQ worker (`eventpulse worker`) for EVENTPULSE_QUEUE=rq
	$(BIN)/eventpulse worker

.PHONY: emulators-up
emulators-up: $(STAMP) ## Start the GCS, Cloud Tasks and Firestore emulators in the background (127.0.0.1)
	$(BIN)/python emulators/gcs.py start
	$(BIN)/python emulators/cloud_tasks.py start
	$(BIN)/python emulators/firestore.py start

.PHONY: emulators-down
emulators-down: $(STAMP) ## Stop the emulators started by `make emulators-up`
	-$(BIN)/python emulators/firestore.py stop
	-$(BIN)/python emulators/cloud_tasks.py stop
	-$(BIN)/python emulators/gcs.py stop

.PHONY: emulate
emulate: $(STAMP) ## Run every cloud function on its own port, wired through the emulators (Ctrl-C stops all)
	$(BIN)/python emulators/emulate.py

.PHONY: bundle
bundle: $(STAMP) ## Build one deployable source archive per function under build/bundles/
	$(BIN)/python infra/bundle.py

.PHONY: bench-cold-import
bench-cold-import: $(STAMP) ## Benchmark: cold import time of each cloud function (benchmarks/out/)
	$(BIN)/python benchmarks/bench_cold_import.py

.PHONY: bench-trends
bench-trends: $(STAMP) ## Benchmark: each /api/stats trends route over 10,000 seeded ingestions, vs bare-SQL anchors
	$(BIN)/python benchmarks/bench_trends.py

.PHONY: bench-dashboard
bench-dashboard: $(STAMP) web ## Benchmark: dashboard bundle sizes (gzip) and Ingestions/Trends pages in Chromium, 10,000 ingestions + 1M curated rows
	$(BIN)/python benchmarks/bench_dashboard.py

.PHONY: bench-drift
bench-drift: $(STAMP) ## Benchmark: how soon a rejected 1M-row type change ends, vs the load of a valid file
	$(BIN)/python benchmarks/bench_drift_reject.py

.PHONY: bench-formats
bench-formats: $(STAMP) ## Benchmark: 1M NDJSON records vs psql \copy of the CSV (FORMAT=xlsx: 100k rows vs fastexcel; FORMAT=parquet: 1M rows vs the CSV; FORMAT=all)
	$(BIN)/python benchmarks/bench_formats.py --format $(or $(FORMAT),ndjson)

.PHONY: bench-upsert
bench-upsert: $(STAMP) ## Benchmark: replays into a loaded 1M-row table (unchanged, 1% and all rows changed; load step and whole one-shot ingest) vs psql \copy
	$(BIN)/python benchmarks/bench_upsert.py --compare-unconditional --end-to-end

.PHONY: lock
lock: $(STAMP) ## Re-lock requirements.txt and requirements-dev.txt (uv, with hashes) from the .in files
	$(BIN)/python tools/locks.py compile $(UV_ARGS)

.PHONY: clean
clean: ## Remove caches and build output (keeps data/ and .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist shared/*.egg-info

WEB_STAMP := web/node_modules/.installed
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/api-docs.html web/vite.config.ts web/tsconfig.json

$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "make web needs Node.js 18+ and npm (apt-get install nodejs npm)" >&2; exit 1; }
	cd web && npm ci
	@touch $(WEB_STAMP)

web/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run build

.PHONY: web
web: web/dist/index.html ## Build the web dashboard into web/dist (npm ci && npm run build; served by eventpulse serve at /)

.PHONY: screenshots
screenshots: $(STAMP) web ## Refresh docs/screenshots/ from the browser tests (tests/e2e/test_dashboard*.py, Chromium)
	EVENTPULSE_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/e2e/test_dashboard.py tests/e2e/test_dashboard_signed_upload.py $(PYTEST_ARGS)

.PHONY: web-types
web-types: $(STAMP) $(WEB_STAMP) ## Regenerate web/src/api-types.ts from the app's OpenAPI document (openapi-typescript)
	$(BIN)/python tools/openapi_document.py build/openapi.json
	cd web && npm run types
# --- Google Cloud: infra/gcp.py prints each plan, then runs it (DRY_RUN=1: print only) -------------
# gcloud and terraform are needed only when a target runs; docs/DEPLOY_GCP.md is the walk-through.
ENV ?= dev
DRY_RUN ?=
GCP_FLAGS = $(if $(DRY_RUN),--dry-run)
GCP = $(PYTHON) infra/gcp.py $(GCP_FLAGS)

.PHONY: auth
auth: ## Log in to Google Cloud: gcloud auth login and application-default login (for Terraform)
	@$(GCP) auth

.PHONY: init
init: ## Prepare a project: make init PROJECT_ID=<id> REGION=<region> [ENV=dev] (state bucket, tfvars)
	@$(GCP) init --env $(ENV) --project "$(PROJECT_ID)" --region "$(REGION)"

.PHONY: infra-gcp
infra-gcp: ## Apply the base infrastructure of ENV (APIs, buckets, queue, secrets, data) with Terraform
	@$(GCP) infra --env $(ENV)

.PHONY: db-secret
db-secret: ## Store DATABASE_URL in Secret Manager (DATABASE_URL=... or a new Cloud SQL user) [ENV=dev]
	@$(GCP) db-secret --env $(ENV)

.PHONY: task-token-secret
task-token-secret: ## New task token: its sha256 to Secret Manager, the token to .secrets/ENV/ [ENV=dev]
	@$(GCP) task-token-secret --env $(ENV)

.PHONY: ingest-token-secret
ingest-token-secret: ## New API token: make ingest-token-secret NAME=ci ROLE=operator [ENV=dev]
	@$(GCP) ingest-token-secret --env $(ENV) --name "$(NAME)" --role "$(or $(ROLE),operator)"

.PHONY: edge-enroll-token-secret
edge-enroll-token-secret: ## New fleet enroll token (and the device token pepper, once) [ENV=dev]
	@$(GCP) edge-enroll-token-secret --env $(ENV)

.PHONY: check-secrets-gcp
check-secrets-gcp: ## Fail when a secret of ENV has no version (and say which target adds it)
	@$(GCP) check-secrets --env $(ENV)

.PHONY: deploy-gcp
deploy-gcp: $(STAMP) ## Bundle, build the jobs image, check secrets, apply all of ENV's Terraform, migrate
	@$(BIN)/python infra/gcp.py $(GCP_FLAGS) deploy --env $(ENV)

.PHONY: verify-gcp
verify-gcp: ## Call every deployed function's health/readiness route of ENV and report
	@$(GCP) verify --env $(ENV)

.PHONY: drift-gcp
drift-gcp: $(STAMP) ## terraform plan -detailed-exitcode of ENV: exit 2 when the cloud differs from Terraform
	@$(BIN)/python infra/gcp.py $(GCP_FLAGS) drift --env $(ENV)

.PHONY: web-deploy
web-deploy: ## Upload the built dashboard (WEB_DIST, default web/dist) and its config.json to ENV's web bucket
	@$(GCP) web-deploy --env $(ENV) $(if $(WEB_DIST),--dist "$(WEB_DIST)")

.PHONY: tf-fmt
tf-fmt: ## Rewrite infra/terraform/**/*.tf in terraform fmt layout (make lint checks it)
	$(PYTHON) tools/tffmt.py write

CHECKOV_VENV ?= .venv-checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --require-hashes -r requirements-checkov.txt
	@touch $@

.PHONY: checkov
checkov: $(CHECKOV_VENV)/.installed ## Scan infra/terraform with checkov (own venv: its pins clash with the lock; ~4 min once)
	$(CHECKOV_VENV)/bin/checkov -d infra/terraform --framework terraform --compact --quiet --skip-download

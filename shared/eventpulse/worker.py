"""The queue worker's side of processing: the job a queue runs for one ingestion, and its preparation.

``adapters/queue_rq.py`` enqueues ``run_job`` by its dotted path (``queue_rq.JOB_FUNCTION``; moving
``run_job`` breaks the jobs already queued), so the queue adapter imports nothing of the pipeline.
``adapters/rq_worker.py`` serves the queue. The services come from ``eventpulse.runtime``, built
once per process like those of a function or a job.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventpulse import runtime
from eventpulse.errors import RetryableError
from eventpulse.pipeline.processor import ProcessResult, process_ingestion


class IngestionRetry(RetryableError):
    """Raised by ``run_job`` so that the queue retries the job (the failure is already recorded)."""

    code = "ingestion_retry"


def prepare() -> None:
    """Before the first job: build the services, bring the schema up to date, import GX once.

    Fails fast (database unreachable, migration error) before the worker takes a job, and saves the
    first job the 3-5 s Great Expectations import.
    """
    from eventpulse.quality.gx_runner import warm_up_in_background

    runtime.get_services().store.migrate()
    warm_up_in_background().join()


def run_job(ingestion_id: str) -> dict[str, Any]:
    """Process one ingestion; raise (so the queue retries) only for a retryable outcome."""
    result = process_ingestion(runtime.get_services(), uuid.UUID(ingestion_id))
    if result.retry:
        raise IngestionRetry(
            f"ingestion {ingestion_id} failed with a retryable error (status {result.status})",
            hint="the queue retries it with backoff; the error is recorded on the ingestion",
        )
    return describe(result)


def describe(result: ProcessResult) -> dict[str, Any]:
    """The job's return value, kept by the queue for inspection."""
    return {
        "ingestion_id": str(result.ingestion_id),
        "status": str(result.status) if result.status is not None else None,
        "processed": result.processed,
    }

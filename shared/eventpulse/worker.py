"""The queue worker's side of processing: the job a queue runs for one ingestion, and its preparation.

``adapters/queue_rq.py`` enqueues ``run_job`` by its dotted path (``queue_rq.JOB_FUNCTION``; moving
``run_job`` breaks the jobs already queued), so the queue adapter imports nothing of the pipeline.
``adapters/rq_worker.py`` serves the queue. The services come from ``eventpulse.runtime``, built
once per process like those of a function or a job.

Batch pass (``worker_batch_size`` > 1): a job takes along the other RECEIVED ingestions of its
dataset that are waiting (oldest first) and runs them all through ``process_batch``, so the small
files' row checks share one Great Expectations call. Why the database and not Redis: the other
ingestions' RQ jobs stay queued untouched, so nothing of the delivery and recovery paths changes.
Each ingestion is still claimed by a compare-and-set when its turn comes; a worker that dies mid-pass
leaves the one in hand PROCESSING (reclaim finds its stale heartbeat) and the rest RECEIVED with their
jobs still queued; a job whose ingestion a pass already settled finds it not claimable and returns.
The one difference: a taken-along ingestion that fails retryably is tried again when its own job
comes up, without the backoff (attempts stay bounded by ``max_attempts``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from eventpulse import runtime
from eventpulse.errors import RetryableError
from eventpulse.pipeline.prevalidate import process_batch
from eventpulse.pipeline.processor import ProcessResult, process_ingestion

if TYPE_CHECKING:
    from eventpulse.ports import Services


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
    """Process one ingestion (and its batch); raise (so the queue retries) only for its retryable outcome."""
    services = runtime.get_services()
    own = uuid.UUID(ingestion_id)
    batch = [own, *waiting_alongside(services, own)]
    result = process_batch(services, batch)[0] if len(batch) > 1 else process_ingestion(services, own)
    if result.retry:
        raise IngestionRetry(
            f"ingestion {ingestion_id} failed with a retryable error (status {result.status})",
            hint="the queue retries it with backoff; the error is recorded on the ingestion",
        )
    return describe(result)


def waiting_alongside(services: Services, ingestion_id: uuid.UUID) -> list[uuid.UUID]:
    """Other RECEIVED ingestions of this one's dataset to process in the same pass (up to the batch size)."""
    size = services.settings.worker_batch_size
    if size <= 1:
        return []
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
        if row is None:
            return []
        return tx.ingestions.find_waiting(str(row["dataset"]), limit=size - 1, exclude=ingestion_id)


def describe(result: ProcessResult) -> dict[str, Any]:
    """The job's return value, kept by the queue for inspection."""
    return {
        "ingestion_id": str(result.ingestion_id),
        "status": str(result.status) if result.status is not None else None,
        "processed": result.processed,
    }

"""The RQ task queue: Redis holds one job per ingestion; ``eventpulse worker`` processes them.

This module only enqueues. The job is named by its dotted path (``eventpulse.worker.run_job``), so
nothing of the pipeline is imported here; ``adapters/rq_worker.py`` serves the queue.

The job id is the ingestion id, so a second enqueue while the job waits (queued, or scheduled for a
retry) is a no-op. A job RQ still reports as *started* is enqueued again: a SIGKILLed worker leaves its
job "started" for ``job_timeout + 60`` s, and the only callers that enqueue an ingestion that far along
are reclaim (after the database heartbeat proved the worker dead), review and replay. The database, not
Redis, decides who processes: claiming is a compare-and-set, so an extra delivery is a no-op.

Retries: a retryable outcome makes ``run_job`` raise, and RQ retries it after ``RETRY_INTERVALS`` (the
worker runs RQ's scheduler for that); terminal outcomes return normally.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus

from eventpulse.errors import RetryableError
from eventpulse.settings import Settings

log = logging.getLogger(__name__)

JOB_FUNCTION = "eventpulse.worker.run_job"
"""The job every ingestion runs, by dotted path: the worker's RQ imports it, this module never does."""
RETRY_INTERVALS = (30, 120, 600)
"""Seconds before the 1st, 2nd and later retries of a retryable failure."""
RESULT_TTL_SECONDS = 24 * 3600
"""How long a finished job (and its return value) stays in Redis for inspection."""
FAILURE_TTL_SECONDS = 7 * 24 * 3600
"""How long a job that failed for good stays in RQ's failed registry."""
WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})
"""Job states in which a second enqueue of the same ingestion is a no-op."""


@dataclass
class RqQueue:
    """Enqueues ``eventpulse.worker.run_job(ingestion_id)`` on ``settings.rq_queue_name``."""

    queue: Queue
    job_timeout_seconds: int
    retry: Retry | None

    @classmethod
    def from_settings(cls, settings: Settings) -> RqQueue:
        return cls(
            queue=Queue(settings.rq_queue_name, connection=connect(settings)),
            job_timeout_seconds=settings.job_timeout_seconds,
            # RQ's retries plus the first run equal the processor's attempts; later ones would only
            # find the ingestion FAILED_MAX_ATTEMPTS.
            retry=Retry(max=settings.max_attempts - 1, interval=list(RETRY_INTERVALS))
            if settings.max_attempts > 1
            else None,
        )

    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        try:
            self._deliver(str(ingestion_id))
        except RedisError as exc:
            log.warning("could not enqueue ingestion %s on RQ: %s", ingestion_id, exc)  # the log only
            raise RetryableError(
                f"could not enqueue ingestion {ingestion_id} on RQ queue {self.queue.name!r}",
                hint="check that Redis answers at EVENTPULSE_REDIS_URL; the reclaim job re-delivers it",
            ) from exc

    def _deliver(self, job_id: str) -> None:
        try:
            self._enqueue(job_id, unique=True)  # atomic: fails when a job with this id exists
            return
        except DuplicateJobError:
            pass
        status = job_status(self.queue.connection, job_id)
        if status in WAITING:
            log.info("ingestion %s is already %s on RQ queue %s", job_id, status, self.queue.name)
            return
        # Finished, failed, stopped, or "started" by a worker reclaim found dead: deliver again.
        self._enqueue(job_id, unique=False)
        log.info("ingestion %s enqueued again on RQ queue %s (job was %s)", job_id, self.queue.name, status)

    def _enqueue(self, job_id: str, *, unique: bool) -> Job:
        return self.queue.enqueue_call(
            JOB_FUNCTION,
            args=(job_id,),
            job_id=job_id,
            timeout=self.job_timeout_seconds,
            retry=self.retry,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            description=f"process ingestion {job_id}",
            unique=unique,
        )

    def close(self) -> None:
        self.queue.connection.close()


def connect(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)


def job_status(connection: Redis, job_id: str) -> JobStatus | None:
    """The RQ status of the job, None when Redis no longer has it."""
    try:
        return Job.fetch(job_id, connection=connection).get_status(refresh=False)
    except Exception:  # NoSuchJobError, or a hash that expired between the two calls
        return None

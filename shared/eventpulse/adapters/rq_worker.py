"""Serve the RQ queue: ``eventpulse worker``'s loop, with RQ's scheduler for the retries.

A ``SimpleWorker`` runs jobs in this process, so the services (connection pool, imported Great
Expectations) are built once and shared by every job; job timeouts still apply (SIGALRM). A crash
loses only the job in hand, which reclaim re-delivers.

RQ forks its scheduler from this process. Two guards keep a killed worker from leaving work stuck:
the child drops the inherited database pool at the fork (``adapters/postgres/engine.py``), and it
dies with the worker (``adapters/orphans.py``). A SIGTERM still stops the worker gently: it finishes
the job in hand, then stops the scheduler itself.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker

from eventpulse.adapters.orphans import make_forks_die_with_this_process
from eventpulse.adapters.queue_rq import connect
from eventpulse.errors import RetryableError
from eventpulse.settings import Settings


class QueueUnreachable(RetryableError):
    """Redis does not answer: the worker cannot take jobs."""

    code = "queue_unreachable"


def serve(
    settings: Settings,
    *,
    burst: bool = False,
    name: str | None = None,
    before_first_job: Callable[[], None] | None = None,
) -> bool:
    """Serve ``settings.rq_queue_name`` until stopped (or until it is empty, with ``burst``).

    ``before_first_job`` runs once Redis answers (the caller builds its services there), so a
    worker fails fast on Redis, then on the database, before it takes a job. Returns whether any
    job ran.
    """
    connection = connect(settings)
    try:
        try:
            connection.ping()
        except RedisConnectionError as exc:
            raise QueueUnreachable(
                f"cannot reach Redis: {exc}", hint="start Redis, or point EVENTPULSE_REDIS_URL at one"
            ) from None
        if before_first_job is not None:
            before_first_job()
        make_forks_die_with_this_process()
        queue = Queue(settings.rq_queue_name, connection=connection)
        worker = SimpleWorker([queue], connection=connection, name=name)
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="INFO"))
    finally:
        connection.close()

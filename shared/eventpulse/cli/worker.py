"""``eventpulse worker``: process ingestions from the RQ queue (EVENTPULSE_QUEUE=rq).

Settings come from the environment, like the rest of the CLI; the services are the process's own,
from ``eventpulse.runtime``. The job is ``eventpulse.worker.run_job``; the serve loop is
``adapters/rq_worker.py``. Registered in ``eventpulse.cli`` through ``commands``; also runnable as
``python -m eventpulse.cli.worker``.
"""

from __future__ import annotations

import os
import sys

import click

from eventpulse.logs import configure_logging, is_logging_configured
from eventpulse.settings import Settings, SettingsError


@click.command()
@click.option("--burst", is_flag=True, help="Exit once the queue is empty (tests, one-off batches).")
@click.option("--name", default=None, help="Worker name shown by `rq info` (default: host and pid).")
def worker(burst: bool, name: str | None) -> None:
    """Process ingestions enqueued on Redis (RQ) until stopped; Ctrl-C finishes the job in hand."""
    try:
        settings = Settings.from_mapping(os.environ)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if not is_logging_configured():  # run on its own (python -m); under `eventpulse`, main() did it
        configure_logging(settings.log_format, settings.log_level, project=settings.gcp_project)
    if settings.queue != "rq":
        click.echo(
            f"warning: EVENTPULSE_QUEUE is {settings.queue!r}, so nothing in this configuration enqueues to "
            f"RQ; set EVENTPULSE_QUEUE=rq for the server and the worker",
            err=True,
        )
    click.echo(f"RQ worker on queue {settings.rq_queue_name!r} at {_redacted(settings.redis_url)}", err=True)
    from eventpulse import runtime
    from eventpulse import worker as jobs
    from eventpulse.adapters import rq_worker

    try:
        rq_worker.serve(settings, burst=burst, name=name, before_first_job=jobs.prepare)
    except rq_worker.QueueUnreachable as exc:
        click.echo(f"error: at {_redacted(settings.redis_url)}, {exc.message}", err=True)
        click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(1)
    finally:
        runtime.close_services()


def _redacted(url: str) -> str:
    """The Redis URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if user else f"{scheme}{sep}***@{host}"


commands = [worker]

if __name__ == "__main__":
    worker(prog_name="eventpulse worker")

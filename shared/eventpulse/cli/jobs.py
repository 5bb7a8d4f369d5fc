"""CLI commands of the maintenance jobs: ``eventpulse prune``, ``replay-range`` and ``lineage flush``.

``eventpulse.cli`` registers ``commands``.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from eventpulse.cli.common import EXIT_FAILED, EXIT_OK, build_cli_services, fail_with, load_settings


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from eventpulse.errors import BadRequest
    from eventpulse.jobs.replay import parse_instant

    try:
        return parse_instant(value, param.name or "time")
    except BadRequest as exc:
        raise click.BadParameter(exc.message) from None


@click.command("prune")
@click.option("--older-than-days", type=click.IntRange(min=1), required=True, help="Age in days (>= 1).")
@click.option("--apply", is_flag=True, help="Delete. Without it, only print what would go (dry run).")
@click.option(
    "--include-raw", is_flag=True, help="Also delete raw objects that no remaining ingestion references."
)
def prune(older_than_days: int, apply: bool, include_raw: bool) -> None:
    """Delete audit events and final ingestions older than N days (dry run unless --apply)."""
    from eventpulse.errors import EventPulseError
    from eventpulse.jobs.prune import format_report, prune_retention

    services = build_cli_services(load_settings())
    try:
        report = prune_retention(
            services, older_than_days=older_than_days, apply=apply, include_raw=include_raw, actor="cli"
        )
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()
    format_report(report, click.echo)


@click.command("replay-range")
@click.option("--dataset", required=True, help="Dataset to replay.")
@click.option("--since", callback=_instant, help="ISO 8601 time, inclusive (created_at).")
@click.option("--until", callback=_instant, help="ISO 8601 time, exclusive (created_at).")
@click.option("--dry-run", is_flag=True, help="Only list what would be replayed.")
def replay_range(dataset: str, since: datetime | None, until: datetime | None, dry_run: bool) -> None:
    """Process every original ingestion of DATASET (in a created_at range) again from raw."""
    from eventpulse.errors import EventPulseError
    from eventpulse.jobs.replay import replay_range as run_replay

    services = build_cli_services(load_settings())
    try:
        report = run_replay(
            services,
            dataset=dataset,
            since=since,
            until=until,
            actor="cli",
            dry_run=dry_run,
            progress=lambda n, total, row, outcome: click.echo(f"[{n}/{total}] {row['id']} {outcome}"),
        )
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()
    click.echo(report.summary(), err=True)
    sys.exit(EXIT_FAILED if report.failed else EXIT_OK)


@click.group("lineage")
def lineage() -> None:
    """The OpenLineage events outbox (pushed to EVENTPULSE_OPENLINEAGE_URL)."""


@lineage.command("flush")
def lineage_flush() -> None:
    """Push every lineage event that is due now; exit 1 when some are still pending."""
    from eventpulse.pipeline.lineage_push import flush_lineage

    settings = load_settings()
    if not settings.openlineage_url:
        click.echo("EVENTPULSE_OPENLINEAGE_URL is not set: no lineage is queued or pushed", err=True)
    services = build_cli_services(settings)
    try:
        report = flush_lineage(services)
    finally:
        services.close()
    click.echo(f"lineage: {report.sent} pushed, {report.failed} failed, {report.pending} pending", err=True)
    sys.exit(EXIT_FAILED if report.pending else EXIT_OK)


commands = [prune, replay_range, lineage]

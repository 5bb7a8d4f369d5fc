"""Commands that act on ingestions: replay, approve, reject, reclaim; and migrate."""

from __future__ import annotations

import sys

import click

from eventpulse.cli.common import (
    act_on,
    build_cli_services,
    echo_ingestion,
    exit_code_for,
    fetch_ingestion,
    load_settings,
)


@click.command()
@click.argument("ingestion_id")
@click.option("--wait", is_flag=True, help="Accepted for symmetry: in-process replays always finish first.")
def replay(ingestion_id: str, wait: bool) -> None:
    """Process the raw bytes of an ingestion again, as a new ingestion."""
    from eventpulse.landing.register import replay as replay_ingestion

    row = act_on(
        ingestion_id,
        lambda services, key: fetch_ingestion(services, replay_ingestion(services, key, actor="cli")["id"]),
    )
    echo_ingestion(row)
    sys.exit(exit_code_for(row["status"]))


@click.command()
@click.argument("ingestion_id")
@click.option("--note", help="Why: recorded in the audit log.")
def approve(ingestion_id: str, note: str | None) -> None:
    """Accept the new schema of a QUARANTINED ingestion and process it again; exit 0 when LOADED."""
    from eventpulse.pipeline.review import approve_schema

    row = act_on(ingestion_id, lambda services, key: approve_schema(services, key, actor="cli", note=note))
    echo_ingestion(row)
    sys.exit(exit_code_for(row["status"]))


@click.command()
@click.argument("ingestion_id")
@click.option("--note", help="Why: recorded in the audit log and the ingestion's error.")
def reject(ingestion_id: str, note: str | None) -> None:
    """Refuse the new schema of a QUARANTINED ingestion: it ends REJECTED; exit 0 when done."""
    from eventpulse.pipeline.review import reject_schema

    row = act_on(ingestion_id, lambda services, key: reject_schema(services, key, actor="cli", note=note))
    click.echo(f"ingestion {row['id']}")
    click.echo(f"status: {row['status']}")


@click.command()
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    help="Age in seconds (heartbeat of a claim, last change of a lost or failed ingestion); "
    "default: EVENTPULSE_STALE_AFTER_SECONDS.",
)
def reclaim(older_than: float | None) -> None:
    """Queue again what would never finish: dead workers' claims, lost deliveries, failed attempts."""
    from eventpulse.pipeline.reclaim import reclaim_stale

    settings = load_settings()
    threshold = settings.stale_after_seconds if older_than is None else older_than
    services = build_cli_services(settings)
    try:
        report = reclaim_stale(services, older_than_seconds=threshold, actor="cli")
        found = [("stale claim", key) for key in report.stale]
        found += [("delivery lost", key) for key in report.unqueued]
        found += [("retry", key) for key in report.retried]
        rows = [(why, fetch_ingestion(services, key)) for why, key in found]
    finally:
        services.close()
    for why, row in rows:
        click.echo(f"{row['id']}  {row['dataset']:<20} {why:<16} now {row['status']}")
    click.echo(
        f"released {len(report.stale)} stale claim(s), re-delivered {len(report.unqueued)} lost and "
        f"retried {len(report.retried)} failed ingestion(s) (threshold {threshold:g}s)",
        err=True,
    )


@click.command()
def migrate() -> None:
    """Bring the metadata schema up to date."""
    build_cli_services(load_settings()).close()  # build_services applies the migrations
    click.echo("metadata schema is up to date")

"""``eventpulse ingestions list|show``: read ingestions and their artifacts."""

from __future__ import annotations

import json

import click

from eventpulse.cli.common import build_cli_services, fetch_ingestion, load_settings, parse_id
from eventpulse.states import Status


@click.group()
def ingestions() -> None:
    """List and inspect ingestions."""


@ingestions.command("list")
@click.option("--dataset", help="Only this dataset.")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: items and total.")
def list_ingestions(dataset: str | None, statuses: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Newest ingestions first."""
    services = build_cli_services(load_settings())
    try:
        with services.store.read() as tx:
            page = tx.ingestions.page(dataset=dataset, statuses=statuses, limit=limit)
    finally:
        services.close()
    if as_json:
        from eventpulse.api.present import present_ingestion, to_json_value

        body = {"items": [present_ingestion(r) for r in page.items], "total": page.total}
        click.echo(json.dumps(body, default=to_json_value, ensure_ascii=False))
        return
    for row in page.items:
        loaded = "" if row["rows_loaded"] is None else row["rows_loaded"]
        created = row["created_at"].isoformat(timespec="seconds")
        line = f"{row['id']}  {created}  {row['dataset']:<20} {row['status']:<20} {loaded!s:>8}"
        click.echo(f"{line}  {row['filename']}")
    click.echo(f"{len(page.items)} of {page.total}", err=True)


@ingestions.command("show")
@click.argument("ingestion_id")
def show_ingestion(ingestion_id: str) -> None:
    """One ingestion with its quality report, drift decision and lineage, as JSON."""
    from eventpulse.api.present import present_ingestion_detail, to_json_value

    key = parse_id(ingestion_id)
    services = build_cli_services(load_settings())
    try:
        row = fetch_ingestion(services, key)
        with services.store.read() as tx:
            artifacts = tx.ingestions.artifacts(key)
    finally:
        services.close()
    body = present_ingestion_detail(row, artifacts)
    click.echo(json.dumps(body, indent=2, default=to_json_value, ensure_ascii=False))

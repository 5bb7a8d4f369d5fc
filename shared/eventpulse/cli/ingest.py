"""``eventpulse ingest FILE``: register a file (in this process, or on a running server) and report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eventpulse.cli.client import poll_until_final, upload_to_server
from eventpulse.cli.common import (
    EXIT_OK,
    build_cli_services,
    echo_ingestion,
    exit_code_for,
    fail_with,
    fetch_ingestion,
    load_settings,
    open_with_progress,
)
from eventpulse.errors import EventPulseError


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="Dataset of the file (needs contracts/<dataset>.json).")
@click.option("--source", default="cli", show_default=True, help="Recorded as the ingestion's source.")
@click.option("--sheet", help="Worksheet to read from an XLSX file.")
@click.option("--wait", is_flag=True, help="Wait for the final status (with --server: poll until it ends).")
@click.option("--server", help="Upload to a running server (e.g. http://127.0.0.1:8081) instead.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait polls a server.")
def ingest(
    file: Path, dataset: str, source: str, sheet: str | None, wait: bool, server: str | None, timeout: float
) -> None:
    """Register FILE for DATASET and process it; exit 0 when LOADED, 1 when it failed or was held."""
    settings = load_settings()
    if server:
        row = upload_to_server(settings, server, file, dataset=dataset, source=source, sheet=sheet)
        deduplicated = bool(row.get("deduplicated"))
        if wait:
            row = poll_until_final(settings, server, str(row["id"]), timeout=timeout)
        echo_ingestion(row, deduplicated=deduplicated)
        sys.exit(exit_code_for(row["status"]) if wait else EXIT_OK)
    from eventpulse.landing.register import register_stream

    services = build_cli_services(settings)
    try:
        with open_with_progress(file, f"landing {file.name}") as stream:
            registration = register_stream(
                services,
                dataset=dataset,
                filename=file.name,
                source=source,
                stream=stream,
                actor="cli",
                options={"sheet": sheet} if sheet else None,
            )
        # The inline queue processed it before register_stream returned: this is the final status.
        row = fetch_ingestion(services, registration.ingestion["id"])
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()
    echo_ingestion(row, deduplicated=registration.deduplicated)
    sys.exit(exit_code_for(row["status"]))

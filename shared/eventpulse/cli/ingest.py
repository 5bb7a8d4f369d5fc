"""``eventpulse ingest FILE``: register a file (in this process, or on a running server) and report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from eventpulse.cli.client import find_local_server, poll_until_final, upload_to_server
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
from eventpulse.settings import Settings


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="Dataset of the file (needs contracts/<dataset>.json).")
@click.option("--source", default="cli", show_default=True, help="Recorded as the ingestion's source.")
@click.option("--sheet", help="Worksheet to read from an XLSX file.")
@click.option("--wait", is_flag=True, help="Wait for the final status (on a server: poll until it ends).")
@click.option(
    "--server",
    help="Upload to this server (e.g. http://127.0.0.1:8081). Default: the local server when one answers.",
)
@click.option("--local", "in_process", is_flag=True, help="Process here, even when a local server answers.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait polls a server.")
@click.option("--json", "as_json", is_flag=True, help="Print the ingestion as one JSON object (for scripts).")
def ingest(
    file: Path,
    dataset: str,
    source: str,
    sheet: str | None,
    wait: bool,
    server: str | None,
    in_process: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Register FILE for DATASET and process it; exit 0 when LOADED, 1 when it failed or was held.

    Results go to stdout, progress and logs to stderr. When `eventpulse serve` answers on this
    machine (EVENTPULSE_HTTP_PORT), the file is uploaded to it instead of being processed in a new
    process; --local forces the in-process path.
    """
    settings = load_settings()
    if server and in_process:
        raise click.UsageError("--server and --local exclude each other")
    if not server and not in_process:
        server = find_local_server(settings)
        if server:
            click.echo(f"uploading to the server at {server} (--local processes here instead)", err=True)
    if server:
        row = upload_to_server(settings, server, file, dataset=dataset, source=source, sheet=sheet)
        deduplicated = bool(row.get("deduplicated"))
        if wait:
            row = poll_until_final(settings, server, str(row["id"]), timeout=timeout)
        report(row, deduplicated=deduplicated, as_json=as_json)
        sys.exit(exit_code_for(row["status"]) if wait else EXIT_OK)
    row, deduplicated = _ingest_here(settings, file, dataset=dataset, source=source, sheet=sheet)
    report(row, deduplicated=deduplicated, as_json=as_json)
    sys.exit(exit_code_for(row["status"]))


def _ingest_here(
    settings: Settings, file: Path, *, dataset: str, source: str, sheet: str | None
) -> tuple[dict[str, Any], bool]:
    """Register and process FILE in this process (the inline queue finishes before this returns)."""
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
        return fetch_ingestion(services, registration.ingestion["id"]), registration.deduplicated
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()


def report(row: dict[str, Any], *, deduplicated: bool, as_json: bool) -> None:
    """The outcome on stdout: lines for people, or one JSON object with ``--json``."""
    if not as_json:
        echo_ingestion(row, deduplicated=deduplicated)
        return
    from eventpulse.api.present import present_ingestion, to_json_value

    body = {**present_ingestion(row), "deduplicated": deduplicated}
    click.echo(json.dumps(body, default=to_json_value, ensure_ascii=False))

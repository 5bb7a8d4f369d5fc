"""``eventpulse serve``: the REST API with waitress, processing on a background thread, reclaim and the
device sweep in loops."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from typing import Any

import click

from eventpulse.cli.common import build_cli_services, ensure_local_tokens, exit_on_sigterm, load_settings


def start_loop(
    name: str, step: Callable[[], object], interval: float, stop: threading.Event
) -> threading.Thread:
    """Run ``step`` every ``interval`` seconds on a daemon thread until ``stop``; a failure is logged."""
    log = logging.getLogger(__name__)

    def loop() -> None:
        while not stop.wait(interval):
            try:
                report = step()
                if report:
                    log.info("%s: %s", name, report)
            except Exception:
                log.warning("%s loop failed", name, exc_info=True)

    thread = threading.Thread(target=loop, name=f"eventpulse-{name}", daemon=True)
    thread.start()
    return thread


def start_reclaim_loop(services: Any, interval: float, stop: threading.Event) -> threading.Thread:
    """Run reclaim every ``interval`` seconds: retries failed attempts, re-delivers lost work."""
    from eventpulse.pipeline.reclaim import reclaim_stale

    return start_loop("reclaim", lambda: reclaim_stale(services, actor="reclaim-loop"), interval, stop)


def start_device_sweep_loop(services: Any, interval: float, stop: threading.Event) -> threading.Thread:
    """Run the device sweep every ``interval`` seconds: silent alerts, expired commands (the cloud
    runs the ``device_sweep`` job on a schedule instead)."""
    from eventpulse.jobs.device_sweep import sweep_devices

    return start_loop(
        "device-sweep", lambda: sweep_devices(services, actor="sweep-loop").summary(), interval, stop
    )


@click.command()
@click.option("--host", help="Interface to bind (default: EVENTPULSE_HTTP_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: EVENTPULSE_HTTP_PORT, 8081).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the REST API and the web dashboard with waitress; ingestions are processed on a background
    thread."""
    import waitress

    from eventpulse.api.app import create_app
    from eventpulse.api.server import waitress_options
    from eventpulse.api.web import is_built, wrap_dashboard

    settings = ensure_local_tokens(load_settings())
    host, port = host or settings.http_host, port or settings.http_port
    exit_on_sigterm()
    services = build_cli_services(settings, background=True)
    stop = threading.Event()
    try:
        app = wrap_dashboard(create_app(services), settings)
        if not is_built(settings.web_dir.resolve()):
            logging.getLogger(__name__).warning(
                "no dashboard bundle in %s: / shows how to build it (make web)", settings.web_dir
            )
        if settings.reclaim_interval_seconds > 0:
            start_reclaim_loop(services, settings.reclaim_interval_seconds, stop)
        if settings.device_sweep_interval_seconds > 0:
            start_device_sweep_loop(services, settings.device_sweep_interval_seconds, stop)
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

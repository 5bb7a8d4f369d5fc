"""Local-mode commands: watch the incoming folder; write demo data."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from eventpulse.cli.common import build_cli_services, exit_on_sigterm, load_settings


@click.command()
@click.option("--once", is_flag=True, help="Poll twice (one interval apart), register stable files, exit.")
def watch(once: bool) -> None:
    """Register files dropped under <data_dir>/incoming/ and archive them."""
    from eventpulse.landing.watcher import run_watcher

    settings = load_settings()
    exit_on_sigterm()
    services = build_cli_services(settings, background=True)
    stop = threading.Event()
    click.echo(f"watching {settings.incoming_dir} every {settings.watch_interval_seconds:g}s", err=True)
    try:
        run_watcher(services, once=once, stop=stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        services.close()


@click.group()
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

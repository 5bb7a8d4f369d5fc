"""CLI commands of the device registry: ``eventpulse devices sweep``.

``eventpulse.cli`` registers ``commands``.
"""

from __future__ import annotations

import click

from eventpulse.cli.common import build_cli_services, fail_with, load_settings


@click.group("devices")
def devices() -> None:
    """Field devices (the device registry)."""


@devices.command("sweep")
def sweep() -> None:
    """Raise silent-device alerts, resolve those of devices heard again, expire overdue commands."""
    from eventpulse.errors import EventPulseError
    from eventpulse.jobs.device_sweep import sweep_devices

    services = build_cli_services(load_settings())
    try:
        report = sweep_devices(services, actor="cli")
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()
    click.echo(report.summary())


commands = [devices]

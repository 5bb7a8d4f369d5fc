"""The HTTP application factory: ``create_app(services)`` builds a Flask app over already-built services."""

from __future__ import annotations

from flask import Flask

from eventpulse.api import (
    access_log,
    admin,
    auth,
    backfill,
    catalog,
    contracts,
    demo,
    device_ops,
    devices,
    edge,
    errors,
    health,
    ingest,
    openapi,
    quality,
    quarantine,
    read,
    review,
    stats,
    telemetry,
)
from eventpulse.api.context import EXTENSION_KEY
from eventpulse.api.present import ApiJSONProvider
from eventpulse.ports import Services

BLUEPRINTS = (
    health.bp,
    openapi.bp,
    ingest.bp,
    backfill.bp,
    read.bp,
    contracts.bp,
    catalog.bp,
    review.bp,
    quarantine.bp,
    demo.bp,
    admin.bp,
    stats.bp,
    telemetry.bp,
    quality.bp,
    edge.bp,
    # issue 8: device admin
    devices.bp,
    device_ops.bp,
)


def create_app(services: Services) -> Flask:
    """A Flask app serving the REST API over ``services`` (no globals: tests build one per test)."""
    app = openapi.build_openapi_app()
    app.json = ApiJSONProvider(app)
    app.config["EVENTPULSE_SETTINGS"] = services.settings
    app.extensions[EXTENSION_KEY] = services
    errors.install(app)
    access_log.install(app)
    auth.install(app, services.settings)
    for blueprint in BLUEPRINTS:
        app.register_api(blueprint)
    return app

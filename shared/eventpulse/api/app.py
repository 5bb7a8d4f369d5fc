"""The HTTP application factory: ``create_app(services)`` builds a Flask app over already-built services.

It serves every blueprint; ``api/factory.py`` holds the factory itself, which the edge functions
call with their own selection (``api/edge_app.py``).
"""

from __future__ import annotations

from flask import Flask

from eventpulse.api import (
    admin,
    backfill,
    catalog,
    contracts,
    demo,
    device_ops,
    devices,
    edge,
    edge_media,
    edge_uploads,
    health,
    ingest,
    openapi,
    ops,
    quality,
    quarantine,
    read,
    review,
    stats,
    telemetry,
    uploads,
)
from eventpulse.api.factory import build_app
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
    edge_uploads.bp,
    edge_media.bp,
    edge_media.admin_bp,
    # issue 8: device admin
    devices.bp,
    device_ops.bp,
    # issue 10: dashboard gaps
    ops.bp,
    uploads.bp,
)


def create_app(services: Services) -> Flask:
    """A Flask app serving the REST API over ``services`` (no globals: tests build one per test)."""
    return build_app(services, BLUEPRINTS)

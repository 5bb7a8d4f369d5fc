"""The edge subset of the API: only the blueprints edge devices call, for the two edge functions.

``functions/edge_enroll`` and ``functions/edge_ingest`` build this app instead of the whole REST API,
so their cold start imports no admin, read or review module, and a route that is not an edge route
does not exist in them. Each function then answers only its own paths (``is_enroll_path`` /
``is_device_path``): enrollment is public and rate limited, the rest takes a device credential, and
they scale, and can be locked down, separately.

A new blueprint under ``/api/edge`` belongs in ``EDGE_BLUEPRINTS`` as well as in ``api/app.py``
(``tests/integration/test_functions.py`` fails when one is served by the API but not here).
"""

from __future__ import annotations

import re

from flask import Flask

from eventpulse.api import edge, edge_media, edge_uploads
from eventpulse.api.factory import build_app
from eventpulse.api.operations import Operations
from eventpulse.ports import Services

EDGE_PREFIX = "/api/edge"
ENROLL_PATH = f"{EDGE_PREFIX}/enroll"
EDGE_BLUEPRINTS: tuple[Operations, ...] = (edge.bp, edge_uploads.bp, edge_media.bp)
"""Every blueprint whose routes live under ``/api/edge`` (append new ones here)."""


def create_edge_app(services: Services) -> Flask:
    """A Flask app serving only the edge blueprints over ``services``."""
    return build_app(services, EDGE_BLUEPRINTS)


def _normalized(path: str) -> str:
    # werkzeug merges repeated slashes when routing; compare the path it will route
    return re.sub("/+", "/", path).rstrip("/") or "/"


def is_enroll_path(path: str) -> bool:
    """The one public edge route: self-enrollment with the fleet token."""
    return _normalized(path) == ENROLL_PATH


def is_device_path(path: str) -> bool:
    """An edge route that takes a device credential: everything under /api/edge but enrollment."""
    normalized = _normalized(path)
    return normalized.startswith(EDGE_PREFIX + "/") and normalized != ENROLL_PATH

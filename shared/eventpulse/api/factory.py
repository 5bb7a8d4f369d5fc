"""The app factory under every API app: the full REST API (``api/app.py``) and the edge subset.

It imports only what every app needs (OpenAPI, auth, errors, access log), never a blueprint, so an
app that serves a few blueprints does not pay the import of the others at cold start.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from eventpulse.api import access_log, auth, errors, openapi
from eventpulse.api.context import EXTENSION_KEY
from eventpulse.api.operations import Operations
from eventpulse.api.present import ApiJSONProvider
from eventpulse.ports import Services


def build_app(services: Services, blueprints: Iterable[Operations]) -> Flask:
    """A Flask app serving ``blueprints`` over ``services``, with the API's auth, envelope and access log."""
    app = openapi.build_openapi_app()
    app.json = ApiJSONProvider(app)
    app.config["EVENTPULSE_SETTINGS"] = services.settings
    app.extensions[EXTENSION_KEY] = services
    errors.install(app)
    access_log.install(app)
    auth.install(app, services.settings)
    for blueprint in blueprints:
        app.register_api(blueprint)
    if services.settings.trusted_proxy_hops:
        # Behind a proxy the socket's peer is the proxy: every device would share one enrollment
        # rate limit. Only the entries the trusted proxies appended count; a client's own are ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=services.settings.trusted_proxy_hops)  # type: ignore[method-assign]
    return app

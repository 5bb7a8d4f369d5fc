"""api (HTTP): the whole REST API (``eventpulse.api.app.create_app``), human uploads and backfills.

The functions framework hands over one request; the API's own Flask app routes it, so every endpoint,
its auth and its error envelope are exactly those of ``eventpulse serve``.
"""

from __future__ import annotations

import functions_framework
from flask import Request
from werkzeug.wrappers import Response

from eventpulse.api import app as _api  # noqa: F401  (imported here so its cost is paid at cold start)
from eventpulse.cloud.routes import serve
from eventpulse.runtime import get_api_app


@functions_framework.http
def api(request: Request) -> Response:
    # 1-2: the trigger is a WSGI request; the app was built once over this process's services.
    app = get_api_app()
    # 3-4: the app routes, calls the core and maps the result (status, JSON, error envelope).
    return serve(app, request)

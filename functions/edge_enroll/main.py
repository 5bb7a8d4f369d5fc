"""edge_enroll (HTTP): ``POST /api/edge/enroll`` only, a field device's self-enrollment.

``X-Device-Enroll-Token: <fleet token>`` and ``{"device_id", "enroll_fingerprint", "label"?}`` answer
201 ``{device, device_token, created}`` (200 on a re-enrollment that rotates the token). The route is
the API's own (``eventpulse.api.edge``: rate limit, audit, error envelope); this function builds only
the edge blueprints and answers any other path with a 404 envelope, so the one public edge route
scales and is exposed on its own. Needs the database (the device registry, the audit log).
"""

from __future__ import annotations

import functions_framework
from flask import Request
from werkzeug.wrappers import Response

from eventpulse.api import edge_app  # imported here so its cost is paid at cold start
from eventpulse.cloud.routes import serve
from eventpulse.runtime import get_api_app


@functions_framework.http
def edge_enroll(request: Request) -> Response:
    # 1-2: the trigger is a WSGI request; the edge app was built once over this process's services.
    app = get_api_app("edge")
    # 3-4: only the enroll path reaches the app, which calls the core and maps the result.
    return serve(app, request, owns=edge_app.is_enroll_path)

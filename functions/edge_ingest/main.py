"""edge_ingest (HTTP): every device-authenticated ``/api/edge/*`` route (all but enrollment).

Ping, heartbeat, telemetry uploads (direct or by signed URL), commands and their acks, media: each
takes ``X-Device-Id`` + ``X-Device-Token`` (or ``Authorization: Bearer <device token>``), proven by
``eventpulse.api.auth`` before the view runs. Uploads are registered and enqueued here; the files are
processed by ``process_task``. This function builds only the edge blueprints and answers
``/api/edge/enroll`` and every non-edge path with a 404 envelope. Needs the database and the landing.
"""

from __future__ import annotations

import functions_framework
from flask import Request
from werkzeug.wrappers import Response

from eventpulse.api import edge_app  # imported here so its cost is paid at cold start
from eventpulse.cloud.routes import serve
from eventpulse.runtime import get_api_app


@functions_framework.http
def edge_ingest(request: Request) -> Response:
    # 1-2: the trigger is a WSGI request; the edge app was built once over this process's services.
    app = get_api_app("edge")
    # 3-4: only device routes reach the app, which authenticates, calls the core and maps the result.
    return serve(app, request, owns=edge_app.is_device_path)

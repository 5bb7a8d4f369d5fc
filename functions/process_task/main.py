"""process_task (HTTP, called by Cloud Tasks with an ingestion id): run the pipeline on it.

2xx for every terminal outcome (LOADED, FAILED_QUALITY, FAILED_DRIFT, ...); 5xx only for retryable
failures, so Cloud Tasks retries exactly those. The credential (OIDC in production, ``X-Task-Token``
locally) is checked by the core.
"""

from __future__ import annotations

import functions_framework
from flask import Request, Response

from eventpulse.cloud import triggers
from eventpulse.cloud.tasks import handle_task
from eventpulse.runtime import get_services


@functions_framework.http
def process_task(request: Request) -> Response:
    return triggers.respond(lambda: _process(request))


def _process(request: Request) -> tuple[int, dict[str, object]]:
    triggers.ensure_method(request, "POST")  # 1. parse the trigger
    body, headers = request.get_data(), dict(request.headers)
    services = get_services()  # 2. get services
    status, answer = handle_task(services, body=body, headers=headers)  # 3. one core function
    return status, answer  # 4. map the result (the core already chose the status)

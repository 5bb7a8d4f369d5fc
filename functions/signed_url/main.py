"""signed_url (HTTP): mint a V4 PUT URL for an upload intent; the upload itself goes straight to GCS.

POST {"dataset", "filename", "sha256"?, "content_type"?, "header"? | "columns"?} with
``Authorization: Bearer <token>`` answers 201 {url, method, headers, object_name, expires_at}. A
declared ``header`` (a CSV file's first line) or ``columns`` (names, any format) is checked against
the contract and the drift policy first: a rejected change answers 422 ``schema_drift`` naming it,
and no URL is minted; otherwise the answer adds ``header_check``. Needs the database (history).
"""

from __future__ import annotations

import functions_framework
from flask import Request, Response

from eventpulse.cloud import triggers
from eventpulse.cloud.signed_url import mint_upload_url
from eventpulse.runtime import get_services


@functions_framework.http
def signed_url(request: Request) -> Response:
    return triggers.respond(lambda: _mint(request))


def _mint(request: Request) -> tuple[int, dict[str, object]]:
    triggers.ensure_method(request, "POST")  # 1. parse the trigger
    services = get_services()  # 2. get services
    triggers.ensure_bearer(request, services.settings)
    body = triggers.load_json_object(request)
    minted = mint_upload_url(  # 3. one core function
        services,
        dataset=triggers.required_str(body, "dataset"),
        filename=triggers.required_str(body, "filename"),
        sha256=triggers.optional_str(body, "sha256"),
        content_type=triggers.optional_str(body, "content_type"),
        header=triggers.optional_str(body, "header"),
        columns=triggers.optional_str_list(body, "columns"),
    )
    return 201, minted  # 4. map the result

"""Serve a Flask app from an HTTP function, answering only the paths that function owns.

The API function hands every request to the whole REST API; the edge functions hand over only their
own paths and answer every other one with the API's 404 envelope, so a route that belongs to another
function is never reachable through this one (whatever the app happens to contain).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Request
from werkzeug.wrappers import Response

from eventpulse.api.errors import build_envelope


def serve(app: Flask, request: Request, *, owns: Callable[[str], bool] = lambda _path: True) -> Response:
    """The app's answer to ``request`` when ``owns`` its path; otherwise a 404 envelope naming it."""
    # The inner app reads the body through this request's stream, so both agree it was consumed.
    environ = {**request.environ, "wsgi.input": request.stream, "wsgi.input_terminated": True}
    if not owns(request.path):
        with app.request_context(environ):
            return build_envelope(
                404,
                "not_found",
                f"{request.path} is not served by this function",
                hint="edge enrollment is the edge_enroll function; device routes are edge_ingest; "
                "everything else is the api function",
            )
    return Response.from_app(app, environ)

"""The web dashboard in front of the API: a small WSGI layer that ``eventpulse serve`` wraps the app in.

It answers four things itself and hands every other request to the API app unchanged:

- ``GET /`` and ``/assets/*``: the static bundle Vite built into ``web_dir`` (``make web``);
- ``GET /config.json``: the runtime configuration of the bundle (the API's base URL), so one bundle
  works behind ``eventpulse serve`` and from a bucket in front of a cloud API;
- ``GET /api/docs``: the self-hosted Swagger UI page over ``/api/openapi.json`` (part of the bundle);
- a page saying how to build the bundle when ``web_dir`` holds none.

The API keeps its own auth, error envelope and access log: nothing here is under ``/api/`` except the
docs page, which holds no data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from eventpulse import __version__
from eventpulse.settings import Settings

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

INDEX = "index.html"
API_DOCS = "api-docs.html"
DASHBOARD_PATHS = frozenset({"/", "/index.html"})
API_DOCS_PATHS = frozenset({"/api/docs", "/api/docs/"})
ASSETS_PREFIX = "/assets/"
GOOGLE_STORAGE_ORIGIN = "https://storage.googleapis.com"
"""Where V4-signed URLs point when no emulator endpoint is set (path-style: /<bucket>/<object>)."""
CSP = (
    # Everything the pages load comes from this origin; they call only it, the configured API and, on
    # the GCS landing, the storage origin signed-URL uploads PUT to (api/uploads.py).
    # Device photos and videos on the GCS landing are V4-signed URLs of the bucket's host.
    "default-src 'self'; img-src 'self' data: https://storage.googleapis.com; "
    "media-src 'self' https://storage.googleapis.com; style-src 'self' 'unsafe-inline'; "
    "connect-src {connect}; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EventPulse: dashboard not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>The dashboard is not built</h1>
<p>This server looks for the dashboard's static bundle in <code>{web_dir}</code> and found no
<code>index.html</code> there.</p>
<p>Build it with <code>make web</code> (runs <code>npm ci &amp;&amp; npm run build</code> in
<code>web/</code>; needs Node.js 18+ and npm), or point <code>EVENTPULSE_WEB_DIR</code> at a built bundle,
then reload this page.</p>
<p>The API answers meanwhile: <a href="/health">/health</a>,
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
"""


def build_runtime_config(settings: Settings) -> dict[str, Any]:
    """What ``/config.json`` tells the bundle: where the API is, and nothing secret."""
    return {"api_base_url": settings.web_api_base_url, "mode": settings.mode, "version": __version__}


def build_storage_origin(settings: Settings) -> str | None:
    """The origin signed URLs point at: the emulator's endpoint, else Google's; None off the GCS landing."""
    if settings.landing != "gcs":
        return None
    return origin_of(settings.gcs_endpoint or "") or GOOGLE_STORAGE_ORIGIN


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, or None."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def build_security_headers(settings: Settings) -> dict[str, str]:
    """The headers of every dashboard response; the CSP lets the pages call only this origin, the API
    and the storage origin of signed-URL uploads."""
    connect = ["'self'"]
    for origin in (origin_of(settings.web_api_base_url), build_storage_origin(settings)):
        if origin and origin not in connect:
            connect.append(origin)
    return {
        "Content-Security-Policy": CSP.format(connect=" ".join(connect)),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def wrap_dashboard(api: WsgiApp, settings: Settings) -> WsgiApp:
    """``api`` with the dashboard's routes in front of it (see the module docstring)."""
    web_dir = Path(settings.web_dir).resolve()
    config = json.dumps(build_runtime_config(settings)).encode()
    headers = build_security_headers(settings)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = answer(Request(environ), web_dir, config)
        if response is None:
            return api(environ, start_response)
        for key, value in headers.items():
            response.headers.setdefault(key, value)
        return response(environ, start_response)

    return app


def answer(request: Request, web_dir: Path, config: bytes) -> Response | None:
    """The dashboard's response to ``request``, or None when the request is the API's."""
    if request.method not in ("GET", "HEAD"):
        return None
    path = request.path
    if path == "/config.json":
        return Response(config, mimetype="application/json", headers={"Cache-Control": "no-cache"})
    if path in DASHBOARD_PATHS:
        return _page(request, web_dir, INDEX)
    if path in API_DOCS_PATHS:
        return _page(request, web_dir, API_DOCS)
    if path.startswith(ASSETS_PREFIX):
        return _asset(request, web_dir, path.removeprefix("/"))
    return None


def is_built(web_dir: Path) -> bool:
    return (web_dir / INDEX).is_file()


def _page(request: Request, web_dir: Path, name: str) -> Response:
    if not is_built(web_dir):
        body = NOT_BUILT.format(web_dir=web_dir)
        return Response(body, status=503, mimetype="text/html", headers={"Cache-Control": "no-store"})
    response = send_from_directory(web_dir, name, request.environ, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _asset(request: Request, web_dir: Path, relative: str) -> Response | None:
    try:
        response = send_from_directory(web_dir, relative, request.environ, max_age=0)
    except NotFound:
        return None  # the API's 404 envelope answers
    # Vite names every asset after its content hash: a new build is a new URL.
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response

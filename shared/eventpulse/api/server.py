"""How ``eventpulse serve`` configures waitress around the app.

waitress refuses a body over its own ``max_request_body_size`` (1 GiB by default) with a plain-text 413
before the app sees the request. It is set from ``upload_max_bytes``, a little above it, so uploads up
to the documented limit are accepted and one just over it gets the app's JSON error envelope.
"""

from __future__ import annotations

import io
import logging
import sys
import urllib.parse
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import Error as WaitressError

from eventpulse.api.context import PRECHECK_ENVIRON
from eventpulse.settings import Settings

WSGIApplication = Any
log = logging.getLogger(__name__)

BODY_LIMIT_MARGIN = 1 << 20
"""Bytes waitress accepts beyond ``upload_max_bytes``: the app's own check answers in that band."""


def waitress_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``waitress.serve`` / ``waitress.create_server`` from the settings."""
    # A device's photo or video PUT to the local media route is a body too (issue 8, edge media).
    largest = max(settings.upload_max_bytes, settings.media_max_bytes)
    return {
        "max_request_body_size": largest + BODY_LIMIT_MARGIN,
        # Request headers and bodies are read by waitress's I/O loop, not by a thread: a slow client
        # costs a connection, never a worker thread. So the connection cap is what slow clients
        # exhaust, and it is raised well past waitress's 100.
        "connection_limit": settings.serve_connection_limit,
        "channel_timeout": settings.serve_channel_timeout_seconds,
    }


# --- fail_fast before the body arrives ---------------------------------------------------------------
#
# waitress hands a request to the app only once its whole body has arrived, so behind it a
# `?fail_fast=true` upload with a refused header was answered only after the upload. The parser below
# runs the app on the body's first line as soon as it is in, marked as a precheck (PRECHECK_ENVIRON):
# the upload route checks the header exactly as it would and, when it accepts, answers 204 without
# landing anything. A refusal is sent at once as the app's own response (the error envelope), and the
# connection is closed: the rest of the body is never read. An accepted upload goes on as usual; its
# header is checked again when the whole request is handed over.

FAIL_FAST_PATHS = frozenset({"/api/ingest/upload"})
PRECHECK_MAX_BYTES = 64 * 1024
"""The early call runs once this much of the body has arrived even without a line end (the route
then refuses a header line longer than this, as it would)."""


class AppRefusal(WaitressError):  # type: ignore[misc]
    """The app's own answer to the early call, sent by waitress's error task (which closes)."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        super().__init__(body.decode("utf-8", "replace"))
        self.status = status
        self.headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "connection")]
        self.raw = body

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        return self.status, self.headers, self.raw


def early_answer(app: WSGIApplication, parser: HTTPRequestParser, prefix: bytes) -> AppRefusal | None:
    """Run ``app`` on the body's ``prefix`` as a precheck; the refusal to send, or None when it passed."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": parser.command,
        "SCRIPT_NAME": "",
        "PATH_INFO": parser.path,
        "QUERY_STRING": parser.query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "0",
        "SERVER_PROTOCOL": f"HTTP/{parser.version}",
        "REMOTE_ADDR": "",
        "CONTENT_LENGTH": str(len(prefix)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parser.url_scheme,
        "wsgi.input": io.BytesIO(prefix),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        PRECHECK_ENVIRON: True,
    }
    for key, value in parser.headers.items():
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = status, headers
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if str(answer.get("status", "")).startswith("204"):
        return None
    return AppRefusal(answer["status"], answer["headers"], body)


def fail_fast_parser(app: WSGIApplication) -> type[HTTPRequestParser]:
    """A waitress request parser that answers a refused ``fail_fast`` header before the body is read."""

    class FailFastParser(HTTPRequestParser):  # type: ignore[misc]
        prechecked = False

        def received(self, data: bytes) -> int:
            consumed = int(super().received(data))
            if self.prechecked or not self.headers_finished or self.completed or self.error:  # type: ignore[has-type]
                return consumed
            if self.path not in FAIL_FAST_PATHS or not _asks_fail_fast(self.query):
                self.prechecked = True
                return consumed
            receiver = self.body_rcv
            if receiver is None:
                return consumed
            arrived = receiver.buf.get(PRECHECK_MAX_BYTES, skip=False)
            if b"\n" not in arrived and len(arrived) < PRECHECK_MAX_BYTES:
                return consumed  # not yet: wait for the first line
            self.prechecked = True
            try:
                refusal = early_answer(app, self, arrived)
            except Exception:  # the app errs on the real request too, with its envelope
                log.exception("the early fail_fast check failed; the request goes on as usual")
                return consumed
            if refusal is None:
                return consumed
            self.error = refusal
            self.completed = True
            return len(data)  # the rest of this read belongs to the refused body

    return FailFastParser


def _asks_fail_fast(query: str) -> bool:
    values = urllib.parse.parse_qs(query).get("fail_fast", [])
    return any(v.strip().lower() in ("true", "1", "yes") for v in values)


def create_server(app: WSGIApplication, settings: Settings, *, host: str, port: int) -> Any:
    """The waitress server ``eventpulse serve`` runs: its options, and the fail_fast parser."""
    import waitress

    server = waitress.create_server(app, host=host, port=port, **waitress_options(settings))

    class Channel(HTTPChannel):  # type: ignore[misc]
        parser_class = fail_fast_parser(app)

    server.channel_class = Channel
    return server

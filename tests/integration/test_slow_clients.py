"""Slow clients against the real waitress server that ``eventpulse serve`` runs: slow-loris requests
that trickle their headers or body, and clients that never read the response, do not exhaust the
server; other requests keep their latency."""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import waitress

from eventpulse.api.app import create_app
from eventpulse.api.server import waitress_options
from tests.integration.api_support import AUTH

SLOW = 300  # well past waitress's default connection_limit (100)


@pytest.fixture
def server(services) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    served = waitress.create_server(
        create_app(services), host="127.0.0.1", port=0, **waitress_options(services.settings)
    )
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    yield served
    served.trigger.pull_trigger(served.close)
    thread.join(timeout=10)
    served.task_dispatcher.shutdown()


def latencies(port: int, n: int = 20) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        conn.close()
        out.append(time.perf_counter() - started)
    return out


def open_slow(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(first)
    return sock


def test_slow_loris_headers_and_bodies_do_not_starve_other_requests(server) -> None:
    port = server.effective_port
    baseline = statistics.median(latencies(port))
    auth = AUTH["Authorization"].encode()
    slow = []
    try:
        for i in range(SLOW):
            if i % 2:  # headers never finished
                slow.append(open_slow(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a"))
            else:  # a body announced and never sent
                slow.append(
                    open_slow(
                        port,
                        b"POST /api/ingest/upload?dataset=edge_telemetry&filename=s.csv HTTP/1.1\r\n"
                        b"Host: x\r\nAuthorization: " + auth + b"\r\nContent-Length: 1000000\r\n\r\nevent_id",
                    )
                )
        for sock in slow[:50]:  # and trickle a little on some of them
            sock.sendall(b"a")
        during = latencies(port)
    finally:
        for sock in slow:
            sock.close()
    assert max(during) < 2.0, f"a request took {max(during):.2f} s with {SLOW} slow clients connected"
    assert statistics.median(during) < max(0.25, baseline * 20), (baseline, during)


def test_clients_that_never_read_their_response_do_not_block_the_server(server) -> None:
    port = server.effective_port
    stuck = []
    try:
        for _ in range(40):  # each asks for the OpenAPI document and never reads it
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
            stuck.append(sock)
        time.sleep(0.5)
        during = latencies(port)
    finally:
        for sock in stuck:
            sock.close()
    assert max(during) < 2.0, during

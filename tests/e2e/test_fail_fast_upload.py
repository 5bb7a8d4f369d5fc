"""``?fail_fast=true`` over real HTTP: a refused header is answered while the client is still sending.

Each test runs on two servers on 127.0.0.1: werkzeug (as in ``test_cli.py``), which hands the app
the body as it arrives, and the waitress server ``eventpulse serve`` runs (``api/server.py``), which
reads a whole body before calling the app except for the early call on a ``fail_fast`` upload's first
line. The client speaks HTTP/1.1 on a raw socket, with a chunked body or a Content-Length one: it
sends the header line, then stalls; the 422 must arrive before it sends anything more.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from eventpulse.api.app import create_app
from eventpulse.api.server import create_server
from tests.conftest import TEST_TOKEN
from tests.integration.api_support import edge_csv

ANSWER_TIMEOUT = 20.0
"""Generous for a loaded 2-core machine: the point is that the answer comes while the client waits."""


@pytest.fixture(params=["werkzeug", "waitress"])
def server(request, services) -> Iterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    if request.param == "werkzeug":
        httpd = make_server("127.0.0.1", 0, create_app(services), threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield "127.0.0.1", httpd.server_port
        httpd.shutdown()
        thread.join(timeout=5)
        return
    served = create_server(create_app(services), services.settings, host="127.0.0.1", port=0)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    yield "127.0.0.1", served.effective_port
    served.trigger.pull_trigger(served.close)
    thread.join(timeout=10)
    served.task_dispatcher.shutdown()


def open_chunked_upload(
    address: tuple[str, int], filename: str, *, content_length: int | None = None
) -> socket.socket:
    framing = "Transfer-Encoding: chunked" if content_length is None else f"Content-Length: {content_length}"
    sock = socket.create_connection(address, timeout=ANSWER_TIMEOUT)
    sock.sendall(
        (
            f"POST /api/ingest/upload?dataset=edge_telemetry&filename={filename}&fail_fast=true HTTP/1.1\r\n"
            f"Host: {address[0]}:{address[1]}\r\nAuthorization: Bearer {TEST_TOKEN}\r\n"
            f"Content-Type: application/octet-stream\r\n{framing}\r\n\r\n"
        ).encode()
    )
    return sock


def send_chunk(sock: socket.socket, data: bytes) -> None:
    sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))


def read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one HTTP response (Content-Length framed)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += _receive(sock)
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += _receive(sock)
    return int(lines[0].split()[1]), json.loads(body)


def _receive(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise AssertionError("the server closed the connection without an answer")
    return data


def test_a_refused_header_is_answered_422_before_the_client_sends_the_rest(
    services, server: tuple[str, int], tmp_path: Path
) -> None:
    lines = edge_csv(tmp_path, rows=20).read_bytes().splitlines(keepends=True)
    header = lines[0].replace(b"device_id,", b"")  # a required column is missing
    sock = open_chunked_upload(server, "stalled.csv")
    try:
        send_chunk(sock, header + b"46cca4d6,reading,")  # the header and the start of a row; then stall
        started = time.monotonic()
        status, body = read_answer(sock)  # raises socket.timeout if the server waits for more
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert status == 422, body
    assert body["error"]["code"] == "schema_drift" and "'device_id' is missing" in body["error"]["message"]
    assert waited < ANSWER_TIMEOUT
    assert not [p for p in services.settings.raw_dir.rglob("*") if p.is_file()]


def test_an_accepted_header_waits_for_the_rest_and_lands_the_body_byte_identical(
    services, server: tuple[str, int], tmp_path: Path
) -> None:
    data = edge_csv(tmp_path, rows=300, seed=5).read_bytes()
    newline = data.index(b"\n") + 1
    sock = open_chunked_upload(server, "trickled.csv")
    try:
        send_chunk(sock, data[:newline])
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):  # accepted: the server reads on, it has nothing to say yet
            sock.recv(1)
        sock.settimeout(ANSWER_TIMEOUT)
        for start in range(newline, len(data), 4096):
            send_chunk(sock, data[start : start + 4096])
        sock.sendall(b"0\r\n\r\n")
        status, body = read_answer(sock)
    finally:
        sock.close()
    assert status == 202, body
    assert body["header_check"]["outcome"] == "accept"
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size_bytes"] == len(data)
    with services.landing.local_path(body["raw_key"]) as path:
        assert path.read_bytes() == data


def test_a_refused_header_with_a_content_length_body_is_answered_before_the_rest(
    services, server: tuple[str, int], tmp_path: Path
) -> None:
    lines = edge_csv(tmp_path, rows=20).read_bytes().splitlines(keepends=True)
    header = lines[0].replace(b"device_id,", b"")
    sock = open_chunked_upload(server, "stalled-cl.csv", content_length=50_000_000)  # 50 MB announced
    try:
        sock.sendall(header + b"46cca4d6,reading,")  # then stall: 49.99 MB never come
        status, body = read_answer(sock)
        assert sock.recv(1) == b""  # and the server closes: it will not read the rest
    finally:
        sock.close()
    assert status == 422, body
    assert body["error"]["code"] == "schema_drift" and "'device_id' is missing" in body["error"]["message"]
    assert not [p for p in services.settings.raw_dir.rglob("*") if p.is_file()]


def test_an_accepted_header_with_a_content_length_body_lands_it_byte_identical(
    services, server: tuple[str, int], tmp_path: Path
) -> None:
    data = edge_csv(tmp_path, rows=300, seed=6).read_bytes()
    newline = data.index(b"\n") + 1
    sock = open_chunked_upload(server, "trickled-cl.csv", content_length=len(data))
    try:
        sock.sendall(data[:newline])
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):  # accepted: nothing to say until the rest has arrived
            sock.recv(1)
        sock.settimeout(ANSWER_TIMEOUT)
        sock.sendall(data[newline:])
        status, body = read_answer(sock)
    finally:
        sock.close()
    assert status == 202, body
    assert body["header_check"]["outcome"] == "accept"
    with services.landing.local_path(body["raw_key"]) as path:
        assert path.read_bytes() == data


def test_an_early_call_without_fail_fast_lands_nothing(services) -> None:
    # The server's early call carries only the body's first bytes: whatever the query says, the route
    # must never land them as if they were the file.
    from eventpulse.api.context import PRECHECK_ENVIRON

    client = create_app(services).test_client()
    response = client.post(
        "/api/ingest/upload?dataset=edge_telemetry&filename=prefix.csv",
        data=b"event_id,device_id\n",
        headers={"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/octet-stream"},
        environ_overrides={PRECHECK_ENVIRON: True},
    )
    assert response.status_code == 204
    assert not [p for p in services.settings.raw_dir.rglob("*") if p.is_file()]

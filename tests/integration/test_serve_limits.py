"""Upload size limits through the real waitress server that ``eventpulse serve`` runs."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import waitress

from eventpulse.api.app import create_app
from eventpulse.api.server import BODY_LIMIT_MARGIN, waitress_options
from tests.integration.api_support import AUTH, edge_csv

LIMIT = 4096


@pytest.fixture
def server(services) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(upload_max_bytes=LIMIT, media_max_bytes=LIMIT)
    served = waitress.create_server(
        create_app(services), host="127.0.0.1", port=0, **waitress_options(services.settings)
    )
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    yield served
    served.trigger.pull_trigger(served.close)  # closed by the loop's own thread, never mid-select
    thread.join(timeout=10)
    served.task_dispatcher.shutdown()
    assert not thread.is_alive()


def post(server: Any, body: bytes, *, content_length: int) -> tuple[int, str, bytes]:
    """POST an upload announcing ``content_length`` bytes; (status, content type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)
    try:
        conn.putrequest("POST", "/api/ingest/upload?dataset=edge_telemetry&filename=t.csv")
        for name, value in {
            **AUTH,
            "Content-Type": "text/csv",
            "Content-Length": str(content_length),
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(body)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def test_an_upload_within_the_limit_is_accepted(server, tmp_path) -> None:
    data = edge_csv(tmp_path, rows=5).read_bytes()
    assert len(data) < LIMIT
    status, _, body = post(server, data, content_length=len(data))
    assert status == 202, body


def test_an_upload_over_the_limit_gets_the_json_error_envelope(server) -> None:
    data = b"x" * (LIMIT + 1)

    status, content_type, body = post(server, data, content_length=len(data))

    assert status == 413 and content_type.startswith("application/json"), body
    error = json.loads(body)["error"]
    assert error["status"] == 413 and error["code"] == "payload_too_large"
    assert error["details"]["limit_bytes"] == LIMIT


def test_waitress_refuses_a_body_past_the_margin_before_reading_it(server) -> None:
    # Configured from the setting, not waitress's 1 GiB default: it answers at once, without the body.
    status, _, body = post(server, b"", content_length=LIMIT + BODY_LIMIT_MARGIN + 1)
    assert status == 413, body

"""The agent's own HTTP client (``eventpulse_edge.client``) against the real routes on loopback.

Pins the contract both sides rely on: the upload answers 202 then 200 with ``ingestion_id``, the
command list is ``items[].command_id/kind/params``, and an ack finishes the command.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.serving import make_server

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW
from eventpulse.ports.devices import Command
from eventpulse_edge.client import EdgeClient
from tests.integration.test_edge_api import ENROLL_TOKEN


@pytest.fixture
def base_url(services: Any) -> Iterator[str]:
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="test-pepper",
    )
    ENROLL_WINDOW._hits.clear()
    server = make_server("127.0.0.1", 0, create_app(services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_the_agent_client_uploads_fetches_and_acknowledges(base_url: str, services: Any) -> None:
    client = EdgeClient(base_url, "pi-contract-1", timeout=30)
    client.enroll(ENROLL_TOKEN, "fp-contract-0001")
    payload = f'{{"event_id": "{uuid.uuid4()}", "device_id": "pi-contract-1", "event_type": "reading", '
    payload += '"sensor": "temp_c", "value": 20.5, "ts": "2026-01-01T10:00:00"}\n'

    status, body = client.upload("edge_telemetry", "batch-1.ndjson", payload.encode())
    assert status == 202 and body["ingestion_id"] == body["id"]
    again, repeat = client.upload("edge_telemetry", "batch-1.ndjson", payload.encode())
    assert again == 200 and repeat["ingestion_id"] == body["ingestion_id"]

    now = datetime.now(UTC) - timedelta(seconds=1)
    command_id = str(uuid.uuid4())
    services.devices.queue_command(
        Command(
            command_id,
            "pi-contract-1",
            "set_sampling_interval",
            {"seconds": 15},
            "queued",
            "token:admin",
            now,
            now + timedelta(hours=1),
        )
    )
    [command] = client.commands()
    assert (command.command_id, command.kind, command.params) == (
        command_id,
        "set_sampling_interval",
        {"seconds": 15},
    )
    client.ack(command_id, True, "sampling every 15 s")
    assert services.devices.get_command(command_id).status == "succeeded"
    assert client.commands() == []


def test_the_real_servers_403s_and_409_map_to_the_agents_distinct_reactions(
    base_url: str, services: Any
) -> None:
    """dataset_not_allowed is not revocation; the filesystem landing's mint is bucket_landing_required;
    a refused enrollment carries the status the agent's one-line advice is chosen by."""
    from eventpulse_edge.client import BucketLandingRequired, DatasetRefused, EdgeError, Revoked

    client = EdgeClient(base_url, "pi-contract-2", timeout=30)
    client.enroll(ENROLL_TOKEN, "fp-contract-0002")
    with pytest.raises(DatasetRefused):
        client.upload("sales", "batch-1.ndjson", b"{}\n")
    with pytest.raises(BucketLandingRequired):  # these services land on the filesystem
        client.sign_upload("edge_telemetry", "b.ndjson", "0" * 64, "application/x-ndjson")
    with pytest.raises(EdgeError) as mismatch:
        EdgeClient(base_url, "pi-contract-2", timeout=30).enroll(ENROLL_TOKEN, "another-fingerprint")
    assert mismatch.value.status == 409
    services.devices.update("pi-contract-2", at=datetime.now(UTC), status="revoked", revoked_by="token:root")
    with pytest.raises(Revoked):
        client.upload("edge_telemetry", "batch-1.ndjson", b"{}\n")

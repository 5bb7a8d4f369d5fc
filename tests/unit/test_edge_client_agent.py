"""The agent and its HTTP client against a small in-process HTTP server that speaks the `/api/edge/*`
routes; the same agent against the real server, as processes, is tests/e2e/test_edge_agent.py.

The stub is a real HTTP server on loopback, so requests' real transport, headers and status handling run;
the agent's clock is injected so backoff is checked without sleeping.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from eventpulse_edge import __version__
from eventpulse_edge.agent import MAX_LOG_OUTPUT_BYTES, Agent, AgentStopped, RestartRequested
from eventpulse_edge.backoff import Backoff
from eventpulse_edge.client import EdgeClient, NotAuthenticated, RemoteCommand, Retryable, Revoked
from eventpulse_edge.config import EdgeConfig, read_secret
from eventpulse_edge.logbuffer import RecentLines
from eventpulse_edge.sensors import UNITS, SimulatedSensors
from eventpulse_edge.spool import Spool

ENROLL = "fleet-enroll-token"


@dataclass
class FakeServer:
    """What the server knows and answers; each list is what the agent sent, in order."""

    tokens: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    upload_failures: list[int] = field(default_factory=list)
    seen_digests: set[str] = field(default_factory=set)
    uploads: list[tuple[str, str, bytes, int]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    acks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    enrollments: int = 0
    requests: int = 0
    missing_routes: set[str] = field(default_factory=set)
    ack_failures: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    refuse_dataset: bool = False
    enroll_failures: list[int] = field(default_factory=list)
    bucket: bool = True
    objects: dict[str, bytes] = field(default_factory=dict)
    mints: list[dict[str, Any]] = field(default_factory=list)
    puts: list[dict[str, str]] = field(default_factory=list)
    finalizes: list[tuple[str, int]] = field(default_factory=list)
    put_failures: list[int] = field(default_factory=list)
    finalize_failures: list[int] = field(default_factory=list)

    def loaded_event_ids(self) -> list[str]:
        return [
            json.loads(line)["event_id"]
            for _, _, body, status in self.uploads
            if status == 202
            for line in body.decode().splitlines()
        ]


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        """The stub's "bucket": a create-only PUT to the signed URL, which must carry no device credential."""
        state = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state.puts.append({key.lower(): value for key, value in self.headers.items()})
        name = urlparse(self.path).path.removeprefix("/bucket/")
        if state.put_failures:
            return self._error(state.put_failures.pop(0), "signature expired")
        if name in state.objects:
            return self._error(412, "precondition failed")
        state.objects[name] = raw
        self._reply(200, {})

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str = "x") -> None:
        self._reply(status, {"error": {"status": status, "code": code, "message": message}})

    def _route(self, method: str) -> None:
        state = self.server_state
        state.requests += 1
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state.paths.append(url.path)
        if url.path in state.missing_routes:
            return self._error(404, "no route")
        if url.path == "/api/edge/enroll":
            return self._enroll(json.loads(raw))
        device = self.headers.get("X-Device-Id", "")
        if not device or state.tokens.get(device) != self.headers.get("X-Device-Token"):
            return self._error(401, "device token refused")
        if device in state.revoked:
            return self._error(403, "device revoked")
        if url.path == "/api/edge/ping":
            return self._reply(200, {"device_id": device})
        if url.path == "/api/edge/heartbeat":
            state.heartbeats.append(json.loads(raw))
            return self._reply(200, {"ok": True})
        if url.path == "/api/edge/ingest/upload":
            if state.refuse_dataset:
                return self._error(403, "may not send dataset edge_telemetry", "dataset_not_allowed")
            return self._upload(parse_qs(url.query), raw)
        if url.path == "/api/edge/uploads/gcs_signed_url":
            return self._mint(json.loads(raw))
        if url.path == "/api/edge/ingest/from_gcs":
            return self._finalize(json.loads(raw)["object_name"])
        if url.path == "/api/edge/commands" and method == "GET":
            acked = {command_id for command_id, _ in state.acks}
            return self._reply(200, {"items": [c for c in state.commands if c["command_id"] not in acked]})
        if url.path.startswith("/api/edge/commands/") and url.path.endswith("/ack"):
            if state.ack_failures:
                return self._error(state.ack_failures.pop(0), "ack refused")
            state.acks.append((url.path.split("/")[4], json.loads(raw)))
            return self._reply(200, {"status": "acknowledged"})
        return self._error(404, "no route")

    def _mint(self, body: dict[str, Any]) -> None:
        state = self.server_state
        if state.refuse_dataset:
            return self._error(403, "may not send dataset edge_telemetry", "dataset_not_allowed")
        if not state.bucket:
            return self._error(409, "signed-URL uploads need the GCS landing", "bucket_landing_required")
        state.mints.append(body)
        name = f"edge-uploads/pi-7/{body['dataset']}/{secrets.token_hex(16)}.ndjson"
        host, port = self.server.server_address[:2]
        headers = {"content-type": body["content_type"], "x-goog-if-generation-match": "0"}
        self._reply(
            201,
            {
                "url": f"http://{host}:{port}/bucket/{name}",
                "method": "PUT",
                "headers": headers,
                "object_name": name,
            },
        )

    def _finalize(self, name: str) -> None:
        state = self.server_state
        if not state.bucket:
            return self._error(409, "signed-URL uploads need the GCS landing", "bucket_landing_required")
        if state.finalize_failures:
            status = state.finalize_failures.pop(0)
            state.finalizes.append((name, status))
            return self._error(status, "sha256 does not match the bytes")
        if name not in state.objects:
            state.finalizes.append((name, 404))
            return self._error(404, f"no upload {name!r} of this device", "not_found")
        raw = state.objects[name]
        digest = hashlib.sha256(raw).hexdigest()
        status = 200 if digest in state.seen_digests else 202
        state.seen_digests.add(digest)
        state.uploads.append((name, digest, raw, status))
        state.finalizes.append((name, status))
        self._reply(status, {"id": f"ing-{len(state.uploads)}"})

    def _enroll(self, body: dict[str, Any]) -> None:
        state = self.server_state
        if state.enroll_failures:
            status = state.enroll_failures.pop(0)
            headers = {"Retry-After": "7"} if status == 429 else None
            return self._reply(status, {"error": {"status": status, "message": "enroll failed"}}, headers)
        if self.headers.get("X-Device-Enroll-Token") != ENROLL:
            return self._error(401, "enroll token refused")
        device = body["device_id"]
        if device in state.revoked:
            return self._error(403, "revoked")
        known = state.fingerprints.setdefault(device, body["enroll_fingerprint"])
        if known != body["enroll_fingerprint"]:
            return self._error(409, "fingerprint mismatch")
        created = device not in state.tokens
        state.tokens[device] = secrets.token_urlsafe(16)
        state.enrollments += 1
        self._reply(
            201 if created else 200,
            {"device": {"device_id": device}, "device_token": state.tokens[device], "created": created},
        )

    def _upload(self, query: dict[str, list[str]], raw: bytes) -> None:
        state = self.server_state
        assert self.headers.get("Content-Type") == "application/octet-stream"
        assert query["dataset"] == ["edge_telemetry"]
        filename = query["filename"][0]
        if state.upload_failures:
            status = state.upload_failures.pop(0)
            state.uploads.append((filename, "", raw, status))
            return (
                self._error(status, "try later")
                if status != 429
                else self._reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"})
            )
        digest = hashlib.sha256(raw).hexdigest()
        status = 200 if digest in state.seen_digests else 202
        state.seen_digests.add(digest)
        state.uploads.append((filename, digest, raw, status))
        self._reply(status, {"ingestion_id": f"ing-{len(state.uploads)}"})


@pytest.fixture
def server() -> Iterator[tuple[FakeServer, str]]:
    yield from serve_stub()


def serve_stub() -> Iterator[tuple[FakeServer, str]]:
    """The stub on a free loopback port: (its state, its base URL); other test modules use it too."""
    state = FakeServer()
    handler = type("Handler", (_Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _agent(tmp_path: Path, url: str, clock: Clock, **overrides: Any) -> Agent:
    settings: dict[str, Any] = {
        "server_url": url,
        "device_id": "pi-7",
        "state_dir": tmp_path / "state",
        "enroll_token": ENROLL,
        "simulate": True,
        "batch_max_events": 4,
        "sampling_interval_s": 10,
        "upload_interval_s": 10,
        "heartbeat_interval_s": 10,
        "commands_interval_s": 10,
    }
    settings.update(overrides)
    config = EdgeConfig(**settings)
    spool = Spool(config.spool_path, max_bytes=config.max_spool_bytes)
    client = EdgeClient(config.server_url, config.device_id, timeout=5)
    agent = Agent(
        config,
        spool,
        client,
        sensors=SimulatedSensors(seed=1),
        clock=clock,
        backoff=Backoff(2.0, 60.0, rand=lambda: 1.0),
        logs=RecentLines(100),
        rand=lambda: 0.5,  # uploads exactly every upload_interval_s (no jitter)
    )
    agent.ensure_token()
    return agent


def test_first_start_enrolls_and_keeps_the_token_in_a_600_file(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock())
    token_path = agent.config.device_token_path
    assert read_secret(token_path) == state.tokens["pi-7"]
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(agent.config.fingerprint_path.stat().st_mode) == 0o600
    assert agent.client.ping() == {"device_id": "pi-7"}
    again = _agent(tmp_path, url, Clock())  # a restart reuses the saved token
    assert state.enrollments == 1
    assert again.client.device_token == state.tokens["pi-7"]


def test_readings_are_uploaded_once_and_the_spool_empties(tmp_path: Path, server: Any) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock)
    for _ in range(3):
        agent.tick()
        clock.now += 10
    loaded = state.loaded_event_ids()
    assert len(loaded) == len(set(loaded)) >= 9  # three samples of three sensors, plus heartbeats
    assert agent.spool.pending() == []
    for _, _, body, _ in state.uploads:
        for line in body.decode().splitlines():
            event = json.loads(line)
            assert event["device_id"] == "pi-7"
            assert "+" not in event["ts"] and not event["ts"].endswith("Z")
            if event["event_type"] == "reading":
                assert event["units"] in UNITS


def test_server_errors_back_off_then_the_same_bytes_are_resent(tmp_path: Path, server: Any) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock)
    state.upload_failures = [503, 500]
    agent.tick()
    assert agent.blocked_until == clock.now + 2.0  # first failure: base * 2**0, full jitter draw 1.0
    before = state.requests
    clock.now += 1
    agent.tick()  # still inside the backoff: no request at all
    assert state.requests == before
    clock.now += 1.5
    agent.tick()
    assert agent.blocked_until == clock.now + 4.0  # second failure doubles
    clock.now += 4
    agent.tick()
    failed_body = state.uploads[0][2]
    accepted = [u for u in state.uploads if u[3] == 202]
    assert accepted[0][2] == failed_body  # byte-identical resend
    assert accepted[0][0] == state.uploads[0][0]  # under the same filename
    loaded = state.loaded_event_ids()
    assert len(loaded) == len(set(loaded))
    assert agent.backoff.failures == 0


def test_retry_after_is_honoured_when_longer_than_the_backoff(tmp_path: Path, server: Any) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock)
    state.upload_failures = [429]
    agent.tick()
    assert agent.blocked_until == clock.now + 7.0


def test_a_batch_the_server_already_has_is_forgotten_on_200(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock())
    agent.sample()
    batch = agent.spool.cut_batch(100)
    assert batch is not None
    state.seen_digests.add(batch.sha256)  # e.g. the 202 was lost on the way back
    assert agent.upload() == batch.n_events
    assert state.uploads[-1][3] == 200
    assert agent.spool.pending() == []


def test_a_rotated_token_is_replaced_by_re_enrolling_once(tmp_path: Path, server: Any) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock)
    state.tokens["pi-7"] = "rotated-by-an-admin"
    agent.tick()
    assert state.enrollments == 2
    assert read_secret(agent.config.device_token_path) == state.tokens["pi-7"]
    assert state.heartbeats and state.loaded_event_ids()


def test_a_refused_token_without_an_enroll_token_stops_the_agent(tmp_path: Path, server: Any) -> None:
    state, url = server
    _agent(tmp_path, url, Clock())  # enrolls and saves the token
    agent = _agent(tmp_path, url, Clock(), enroll_token="")  # token saved by the first start
    state.tokens["pi-7"] = "rotated"
    with pytest.raises(AgentStopped, match="no enroll token is configured"):
        agent.tick()


def test_a_revoked_device_stops_uploading_and_says_so(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock)
    state.revoked.add("pi-7")
    with caplog.at_level(logging.ERROR, logger="eventpulse_edge"):
        agent.tick()
    assert agent.revoked
    assert "revoked" in caplog.text and "uploads stopped" in caplog.text
    after = state.requests
    for _ in range(3):
        clock.now += 10
        agent.tick()
    assert state.requests == after  # nothing more is sent
    assert agent.spool.depth() >= 9  # readings are still kept


def test_heartbeat_reports_every_field_the_server_expects(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock(), lat=52.5, lon=13.4)
    agent.sample()
    agent.heartbeat()
    (beat,) = state.heartbeats
    assert set(beat) == {
        "battery_v",
        "rssi_dbm",
        "firmware_version",
        "agent_version",
        "status",
        "lat",
        "lon",
        "spool_depth",
    }
    assert beat["spool_depth"] == 3
    assert beat["status"] == "ok"
    assert 3.3 <= beat["battery_v"] <= 4.2 and -110 <= beat["rssi_dbm"] <= -60


def _queue(state: FakeServer, kind: str, params: dict[str, Any] | None = None) -> str:
    command_id = f"cmd-{len(state.commands) + 1}"
    state.commands.append({"command_id": command_id, "kind": kind, "params": params or {}})
    return command_id


def test_commands_run_and_are_acknowledged_with_their_results(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock())
    caplog.set_level(logging.INFO, logger="eventpulse_edge")
    logging.getLogger("eventpulse_edge").addHandler(agent.logs)
    try:
        interval = _queue(state, "set_sampling_interval", {"seconds": 30})
        logs = _queue(state, "upload_logs", {"lines": 2})
        update = _queue(state, "update_agent", {"version": __version__})
        bad = _queue(state, "set_sampling_interval", {"seconds": 0})
        assert agent.run_commands() == 4
    finally:
        logging.getLogger("eventpulse_edge").removeHandler(agent.logs)
    acks = dict(state.acks)
    assert acks[interval]["ok"] is True and agent.sampling_interval_s == 30.0
    assert acks[logs]["ok"] is True and 1 <= len(acks[logs]["output"].splitlines()) <= 2
    assert acks[update] == {"ok": True, "output": f"running {__version__}"}  # tests/unit/..._update.py
    assert acks[bad]["ok"] is False and "between" in acks[bad]["error"]
    assert agent.run_commands() == 0  # acknowledged commands are not run again
    restarted = _agent(tmp_path, url, Clock())
    assert restarted.sampling_interval_s == 30.0  # the new interval survives a restart


def test_rotate_token_re_enrolls_and_restart_acks_before_exiting(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock())
    old = state.tokens["pi-7"]
    rotate = _queue(state, "rotate_token")
    restart = _queue(state, "restart_agent")
    with pytest.raises(RestartRequested):
        agent.run_commands()
    assert state.tokens["pi-7"] != old
    assert read_secret(agent.config.device_token_path) == state.tokens["pi-7"]
    assert dict(state.acks)[rotate]["ok"] is True
    assert dict(state.acks)[restart]["ok"] is True


def test_upload_logs_output_is_bounded(tmp_path: Path, server: Any) -> None:
    _, url = server
    agent = _agent(tmp_path, url, Clock())
    agent.logs = RecentLines(5000)
    record = logging.LogRecord("eventpulse_edge", logging.INFO, __file__, 1, "y" * 200, None, None)
    for _ in range(2000):
        agent.logs.emit(record)
    ok, output, _ = agent.execute(RemoteCommand("c", "upload_logs", {"lines": 2000}))
    assert ok and output is not None
    assert len(output.encode()) <= MAX_LOG_OUTPUT_BYTES
    assert output.splitlines()[-1].endswith("y" * 200)


def test_client_maps_statuses_and_network_failures(server: Any) -> None:
    state, url = server
    state.tokens["pi-9"] = "good"
    assert EdgeClient(url, "pi-9", "good").ping() == {"device_id": "pi-9"}
    with pytest.raises(NotAuthenticated, match="device token refused"):
        EdgeClient(url, "pi-9", "bad").ping()
    state.revoked.add("pi-9")
    with pytest.raises(Revoked):
        EdgeClient(url, "pi-9", "good").ping()
    with pytest.raises(Retryable):
        EdgeClient("http://127.0.0.1:9", "pi-9", "good", timeout=2).ping()


def test_a_route_the_server_lacks_is_retried_at_its_interval_not_on_every_tick(
    tmp_path: Path, server: Any
) -> None:
    """A 404 from a server without the commands routes: uploads go on, commands wait their interval."""
    state, url = server
    state.missing_routes = {"/api/edge/commands"}
    clock = Clock()
    agent = _agent(tmp_path, url, clock, commands_interval_s=30)
    for _ in range(5):
        agent.tick()
        clock.now += 1
    assert state.paths.count("/api/edge/commands") == 1
    assert agent.blocked_until <= clock.now and not agent.revoked
    assert any(status == 202 for *_, status in state.uploads)
    clock.now += 30
    agent.tick()
    assert state.paths.count("/api/edge/commands") == 2


def test_an_ack_refused_for_good_is_dropped_and_a_retryable_one_is_resent_first(
    tmp_path: Path, server: Any
) -> None:
    """A 409/404 ack would block the channel if kept; a 503 ack is owed until the next contact."""
    state, url = server
    agent = _agent(tmp_path, url, Clock())
    first = _queue(state, "set_sampling_interval", {"seconds": 20})
    second = _queue(state, "set_sampling_interval", {"seconds": 25})
    state.ack_failures = [409]
    assert agent.run_commands() == 2
    assert [command_id for command_id, _ in state.acks] == [second]
    assert agent._unacked == {}

    third = "cmd-3"  # the server finished the first two (one as expired): it hands out only a new one
    state.commands = [{"command_id": third, "kind": "set_sampling_interval", "params": {"seconds": 30}}]
    state.ack_failures = [503]
    with pytest.raises(Retryable):
        agent.run_commands()
    assert list(agent._unacked) == [third]
    assert agent.run_commands() == 0  # the owed ack goes out before anything is fetched
    assert [command_id for command_id, _ in state.acks] == [second, third]
    assert agent._unacked == {} and first not in dict(state.acks)


@pytest.mark.parametrize(("draw", "next_upload"), [(0.0, 9.0), (0.5, 10.0), (0.999, 10.998)])
def test_the_next_upload_is_due_within_the_jitter_around_the_interval(
    tmp_path: Path, server: Any, draw: float, next_upload: float
) -> None:
    """upload_jitter 0.1 of a 10 s interval: the next upload is 9-11 s after one, by the draw."""
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock, upload_jitter=0.1, sampling_interval_s=0.5)
    agent.rand = lambda: draw
    start = clock.now
    agent.tick()  # samples, then the first upload at once
    uploads = state.paths.count("/api/edge/ingest/upload")
    assert uploads == 1
    clock.now = start + next_upload - 0.01
    agent.tick()
    assert state.paths.count("/api/edge/ingest/upload") == uploads, "uploaded before the jittered interval"
    clock.now = start + next_upload
    agent.tick()
    assert state.paths.count("/api/edge/ingest/upload") == uploads + 1

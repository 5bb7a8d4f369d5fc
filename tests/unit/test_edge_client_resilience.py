"""The agent's signed-URL upload mode, its first-enrollment retries and refusals, and the 403 that only
refuses a dataset, against the same in-process HTTP stub as tests/unit/test_edge_client_agent.py.

The signed-URL "bucket" is the stub's own PUT route, so the test sees exactly the headers the agent sent
to it (no device token may go to GCS). The real server on the GCS emulator is tests/e2e/test_edge_agent.py.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventpulse_edge.agent import Agent, AgentStopped, EnrollmentRefused
from eventpulse_edge.backoff import Backoff
from eventpulse_edge.client import DatasetRefused, EdgeClient, Retryable, Revoked
from eventpulse_edge.config import EdgeConfig, read_secret
from eventpulse_edge.logbuffer import RecentLines
from eventpulse_edge.sensors import SimulatedSensors
from eventpulse_edge.spool import Spool
from tests.unit.test_edge_client_agent import ENROLL, Clock, FakeServer, _agent, serve_stub


@pytest.fixture
def server() -> Iterator[tuple[FakeServer, str]]:
    yield from serve_stub()


def _fresh(tmp_path: Path, url: str, clock: Clock, **overrides: Any) -> Agent:
    """An agent that has not enrolled yet (the test drives enrollment itself)."""
    settings: dict[str, Any] = {
        "server_url": url,
        "device_id": "pi-7",
        "state_dir": tmp_path / "state",
        "enroll_token": ENROLL,
        "simulate": True,
    }
    settings.update(overrides)
    config = EdgeConfig(**settings)
    return Agent(
        config,
        Spool(config.spool_path, max_bytes=config.max_spool_bytes),
        EdgeClient(config.server_url, config.device_id, timeout=2),
        sensors=SimulatedSensors(seed=2),
        clock=clock,
        backoff=Backoff(2.0, 60.0, rand=lambda: 1.0),
        logs=RecentLines(100),
        rand=lambda: 0.5,  # uploads exactly every upload_interval_s (no jitter)
    )


def _loaded_once(state: FakeServer, agent: Agent) -> list[str]:
    loaded = state.loaded_event_ids()
    assert len(loaded) == len(set(loaded)) > 0
    assert agent.spool.pending() == [] and agent.spool.counter("rejected_events") == 0
    return loaded


# -- enrollment ----------------------------------------------------------------------------------------


def test_first_enrollment_retries_5xx_and_429_with_backoff_honouring_retry_after(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    state.enroll_failures = [503, 429, 500]
    waits: list[float] = []
    agent = _fresh(tmp_path, url, Clock())
    agent.ensure_token(sleep=waits.append)
    # full jitter drawn at 1.0: 2, then Retry-After 7 beats 4, then 8; reset after the success
    assert waits == [2.0, 7.0, 8.0]
    assert state.enrollments == 1 and agent.backoff.failures == 0
    assert read_secret(agent.config.device_token_path) == state.tokens["pi-7"]


def test_first_enrollment_without_network_waits_and_enrolls_once_the_server_is_reachable(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    agent = _fresh(tmp_path, "http://127.0.0.1:9", Clock())  # nothing listens on the discard port
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            agent.client.base_url = url  # the link comes up

    agent.ensure_token(sleep=sleep)
    assert waits == [2.0, 4.0] and state.enrollments == 1


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("bad_token", "put the current one into enroll_token_file"),
        ("revoked", "an admin must delete it"),
        ("mismatch", "enrolled with another fingerprint"),
        ("bad_id", "fix device_id"),
    ],
)
def test_a_definitive_enrollment_refusal_is_not_retried_and_says_what_to_do(
    tmp_path: Path, server: Any, setup: str, says: str
) -> None:
    state, url = server
    overrides: dict[str, Any] = {"enroll_token": "wrong"} if setup == "bad_token" else {}
    if setup == "revoked":
        state.revoked.add("pi-7")
    if setup == "mismatch":
        state.fingerprints["pi-7"] = "someone-else"
    if setup == "bad_id":
        state.enroll_failures = [400]
    agent = _fresh(tmp_path, url, Clock(), **overrides)
    waits: list[float] = []
    with pytest.raises(EnrollmentRefused, match=says) as refused:
        agent.ensure_token(sleep=waits.append)
    assert isinstance(refused.value, AgentStopped)  # the CLI maps it to exit code 4
    assert waits == [] and state.requests == 1
    assert not agent.config.device_token_path.exists()


# -- 403 for a dataset is not revocation ------------------------------------------------------------------


def test_client_tells_a_dataset_refusal_from_revocation_by_the_error_code(server: Any) -> None:
    state, url = server
    state.tokens["pi-9"] = "good"
    state.refuse_dataset = True
    with pytest.raises(DatasetRefused) as refused:
        EdgeClient(url, "pi-9", "good").upload("edge_telemetry", "b.ndjson", b"{}\n")
    assert not isinstance(refused.value, Revoked)
    state.revoked.add("pi-9")
    with pytest.raises(Revoked):
        EdgeClient(url, "pi-9", "good").upload("edge_telemetry", "b.ndjson", b"{}\n")


def test_a_refused_dataset_keeps_its_batches_and_heartbeats_and_commands_go_on(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock, upload_interval_s=30)
    state.refuse_dataset = True
    with caplog.at_level(logging.ERROR, logger="eventpulse_edge"):
        for _ in range(20):  # 20 s: one upload attempt, heartbeats and command polls every 10 s
            agent.tick()
            clock.now += 1
    refusals = [r for r in caplog.records if "dataset_not_allowed" in r.getMessage()]
    assert len(refusals) == 1 and "stay in the spool" in refusals[0].getMessage()
    assert not agent.revoked and agent.blocked_until <= clock.now
    assert state.paths.count("/api/edge/ingest/upload") == 1
    assert len(state.heartbeats) == 2 and state.paths.count("/api/edge/commands") == 2
    assert agent.spool.pending() and agent.spool.counter("rejected_events") == 0
    kept = agent.spool.event_ids()

    state.refuse_dataset = False  # an admin allows the dataset: the kept batches go at the next interval
    clock.now += 10
    agent.tick()
    assert kept <= set(state.loaded_event_ids())
    _loaded_once(state, agent)


# -- signed-URL uploads --------------------------------------------------------------------------------


def test_signed_url_mode_mints_puts_without_the_device_token_and_finalizes(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock, upload_mode="signed_url")
    for _ in range(3):
        agent.tick()
        clock.now += 10
    _loaded_once(state, agent)
    assert "/api/edge/ingest/upload" not in state.paths
    assert len(state.mints) == len(state.puts) == len(state.objects) >= 2
    for mint, body in zip(state.mints, state.objects.values(), strict=True):
        assert mint["dataset"] == "edge_telemetry" and mint["filename"].endswith(".ndjson")
        assert mint["content_type"] == "application/x-ndjson"
        assert mint["sha256"] == hashlib.sha256(body).hexdigest()
    for headers in state.puts:
        assert "x-device-token" not in headers and "x-device-id" not in headers
        assert headers["content-type"] == "application/x-ndjson"
        assert headers["x-goog-if-generation-match"] == "0"


class Crash(BaseException):
    """A power cut at a chosen point: nothing in the agent catches a BaseException."""


def _restart(tmp_path: Path, url: str, old: Agent) -> Agent:
    old.spool.close()
    return _agent(tmp_path, url, Clock(), upload_mode="signed_url")


def test_a_crash_after_the_put_re_finalizes_the_recorded_object_without_minting_again(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock(), upload_mode="signed_url")
    agent.sample()

    def crash(name: str) -> Any:
        raise Crash

    monkeypatch.setattr(agent.client, "finalize_upload", crash)
    with pytest.raises(Crash):
        agent.upload()
    (pending,) = agent.spool.pending()
    assert pending.object_name in state.objects  # PUT done, the name durable in the spool

    again = _restart(tmp_path, url, agent)
    again.upload()
    assert len(state.mints) == 1 and state.finalizes == [(pending.object_name, 202)]
    _loaded_once(state, again)


def test_a_crash_before_the_put_finalizes_404_then_mints_anew_and_loads_once(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock(), upload_mode="signed_url")
    agent.sample()

    def crash(signed: Any, payload: bytes) -> bool:
        raise Crash

    monkeypatch.setattr(agent.client, "put_signed", crash)
    with pytest.raises(Crash):
        agent.upload()
    (pending,) = agent.spool.pending()
    assert pending.object_name is not None and pending.object_name not in state.objects

    again = _restart(tmp_path, url, agent)
    again.upload()
    assert len(state.mints) == 2
    assert [status for _, status in state.finalizes] == [404, 202]
    _loaded_once(state, again)


def test_a_crash_after_finalize_before_the_spool_forgets_is_answered_200_and_loaded_once(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock(), upload_mode="signed_url")
    agent.sample()

    def crash(batch_id: str) -> None:
        raise Crash

    monkeypatch.setattr(agent.spool, "acknowledge", crash)
    with pytest.raises(Crash):
        agent.upload()
    monkeypatch.undo()
    again = _restart(tmp_path, url, agent)
    again.upload()
    assert [status for _, status in state.finalizes] == [202, 200]
    _loaded_once(state, again)


def test_a_server_without_a_bucket_makes_the_agent_fall_back_to_direct_upload_once(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = server
    state.bucket = False
    clock = Clock()
    agent = _agent(tmp_path, url, clock, upload_mode="signed_url")
    with caplog.at_level(logging.WARNING, logger="eventpulse_edge"):
        for _ in range(3):
            agent.tick()
            clock.now += 10
    warnings = [r for r in caplog.records if "bucket_landing_required" in r.getMessage()]
    assert len(warnings) == 1 and "uploading directly" in warnings[0].getMessage()
    assert agent.upload_mode == "direct"
    assert state.paths.count("/api/edge/uploads/gcs_signed_url") == 1
    assert state.paths.count("/api/edge/ingest/upload") >= 2
    _loaded_once(state, agent)


def test_signed_url_mode_also_treats_a_refused_dataset_as_a_hold_not_a_rejection(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    agent = _agent(tmp_path, url, Clock(), upload_mode="signed_url")
    state.refuse_dataset = True
    agent.tick()
    assert not agent.revoked and agent.spool.pending() and state.objects == {}
    assert agent.spool.counter("rejected_events") == 0


@pytest.mark.parametrize("failure", ["put_403", "put_503", "finalize_422"])
def test_a_refused_put_or_a_corrupted_object_keeps_the_batch_and_re_uploads_it_under_a_new_name(
    tmp_path: Path, server: Any, failure: str
) -> None:
    """The bytes are still in the spool: an expired URL or a sha256 mismatch never drops them."""
    state, url = server
    clock = Clock()
    agent = _agent(tmp_path, url, clock, upload_mode="signed_url")
    agent.sample()
    if failure.startswith("put"):
        state.put_failures = [int(failure[-3:])]
    else:
        state.finalize_failures = [422]
    with pytest.raises(Retryable):  # the loop's guard backs off, as for a 5xx
        agent.upload()
    assert agent.spool.counter("rejected_events") == 0 and len(agent.spool.pending()) == 1
    agent.upload()
    assert len(state.mints) == 2  # a new object, never a second PUT to the first URL
    _loaded_once(state, agent)

"""update_agent end to end on one machine, without pip or systemctl: the agent against the in-process stub
server writes the request and does not ack; the root updater (with an injected runner standing in for pip
and systemctl) installs and writes the result; the "restarted" agent sees the redelivered command and acks
it from what runs and what the result says."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import eventpulse_edge.agent as agent_module
from eventpulse_edge import __version__, updater
from eventpulse_edge.agent import Agent
from eventpulse_edge.updater import REQUEST_NAME, RESULT_NAME, process_request, valid_version
from tests.unit.test_edge_client_agent import Clock, _agent, _queue
from tests.unit.test_edge_client_agent import server as server  # noqa: F401  (the stub fixture)

WALL = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Runner:
    """Records every command; answers pip with the given exit code and output, systemctl with 0."""

    def __init__(self, returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.calls: list[list[str]] = []
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[0] == "systemctl":
            return subprocess.CompletedProcess(list(argv), 0, "", "")
        return subprocess.CompletedProcess(list(argv), self.returncode, self.stdout, self.stderr)

    @property
    def restarts(self) -> list[list[str]]:
        return [call for call in self.calls if call[0] == "systemctl"]


def _enable(tmp_path: Path, text: str = 'requirement = "eventpulse-edge=={version}"\n') -> Path:
    path = tmp_path / "update.toml"
    path.write_text(text)
    return path


def _updating_agent(tmp_path: Path, url: str, wall: list[datetime], clock: Clock | None = None) -> Agent:
    agent = _agent(tmp_path, url, clock or Clock())
    agent.wall = lambda: wall[0]
    return agent


def _result(state_dir: Path) -> dict[str, Any]:
    return json.loads((state_dir / RESULT_NAME).read_text())


# -- the version rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.2.3", "0.1.0", "2", "1.2.3rc1", "1.2.3.post1", "1.2.3.dev4", "1.0a1"])
def test_plain_releases_are_valid_versions(value: str) -> None:
    assert valid_version(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1.2.3; rm -rf /",
        "1.2.3 --index-url=http://x",
        "-e .",
        "1.2.*",
        ">=1.0",
        "1.2.3\n",
        "v1.2.3",
        "latest",
        "1..2",
        "git+https://x/y",
        123,
        None,
        "1.2.3+local",
    ],
)
def test_anything_else_is_refused(value: object) -> None:
    assert not valid_version(value)


# -- the agent side --------------------------------------------------------------------------------------


def test_the_agent_writes_a_request_and_acks_nothing_until_it_runs_the_version(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = server
    wall = [WALL]
    agent = _updating_agent(tmp_path, url, wall)
    command = _queue(state, "update_agent", {"version": "9.9.9"})
    assert agent.run_commands() == 1
    assert state.acks == []  # handed to the updater, not acked
    request_path = agent.config.state_dir / REQUEST_NAME
    request = json.loads(request_path.read_text())
    assert request == {"command_id": command, "version": "9.9.9", "requested_at": WALL.isoformat()}
    assert stat.S_IMODE(request_path.stat().st_mode) == 0o600
    wall[0] = WALL + timedelta(minutes=1)
    assert agent.run_commands() == 1 and state.acks == []  # redelivered while pending: still waiting
    assert json.loads(request_path.read_text())["requested_at"] == WALL.isoformat()  # not rewritten

    runner = Runner(stdout="Successfully installed eventpulse-edge-9.9.9\n")
    result = process_request(agent.config.state_dir, _enable(tmp_path), runner)
    assert result is not None and result["ok"] is True
    assert not request_path.exists()
    assert runner.restarts == [["systemctl", "restart", "eventpulse-edge.service"]]

    monkeypatch.setattr(agent_module, "__version__", "9.9.9")  # the restarted agent runs the new code
    restarted = _updating_agent(tmp_path, url, wall)
    assert restarted.run_commands() == 1
    assert dict(state.acks)[command] == {"ok": True, "output": "running 9.9.9"}
    assert not (agent.config.state_dir / RESULT_NAME).exists()


def test_a_failed_update_is_acked_with_the_updaters_error_after_the_restart(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    agent = _updating_agent(tmp_path, url, [WALL])
    command = _queue(state, "update_agent", {"version": "9.9.9"})
    agent.run_commands()
    runner = Runner(returncode=1, stderr="ERROR: No matching distribution found for eventpulse-edge==9.9.9\n")
    process_request(agent.config.state_dir, _enable(tmp_path), runner)
    assert runner.restarts == []  # nothing changed: the agent keeps running and reads the result
    assert agent.run_commands() == 1
    ack = dict(state.acks)[command]
    assert ack["ok"] is False
    assert "pip install 9.9.9 failed (exit 1)" in ack["error"] and "No matching distribution" in ack["error"]
    assert not (agent.config.state_dir / RESULT_NAME).exists()
    assert not (agent.config.state_dir / REQUEST_NAME).exists()


def test_without_update_toml_the_ack_says_how_to_enable_it(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _updating_agent(tmp_path, url, [WALL])
    command = _queue(state, "update_agent", {"version": "9.9.9"})
    agent.run_commands()
    runner = Runner()
    process_request(agent.config.state_dir, tmp_path / "absent.toml", runner)
    assert runner.calls == []
    agent.run_commands()
    assert "remote update not enabled on this device: create" in dict(state.acks)[command]["error"]


def test_a_request_the_updater_never_took_is_acked_failed_after_the_bound(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    wall, clock = [WALL], Clock()
    agent = _updating_agent(tmp_path, url, wall, clock)
    command = _queue(state, "update_agent", {"version": "9.9.9"})
    agent.run_commands()
    wall[0] = WALL + timedelta(days=3)  # NTP synced on a Pi without a real-time clock: not a reason
    clock.now += agent_module.UPDATE_PENDING_BOUND_S - 1
    agent.run_commands()
    assert state.acks == []
    clock.now += 2
    agent.run_commands()
    assert dict(state.acks)[command] == {
        "ok": False,
        "error": "the updater did not run: is eventpulse-edge-update.path enabled?",
    }
    assert not (agent.config.state_dir / REQUEST_NAME).exists()


def test_installed_but_still_the_old_version_waits_then_fails(tmp_path: Path, server: Any) -> None:
    """The updater wrote ok just before restarting the agent: a fetch in between must not fail the
    command; but a result that stays unmatched (the install gave another version) is acked failed."""
    state, url = server
    clock = Clock()
    agent = _updating_agent(tmp_path, url, [WALL], clock)
    command = _queue(state, "update_agent", {"version": "9.9.9"})
    agent.run_commands()
    process_request(agent.config.state_dir, _enable(tmp_path), Runner())
    agent.run_commands()
    assert state.acks == []
    clock.now += agent_module.UPDATE_PENDING_BOUND_S + 5
    agent.run_commands()
    assert (
        dict(state.acks)[command]["error"]
        == f"the updater installed 9.9.9 but the agent still runs {__version__}"
    )


def test_a_second_update_waits_for_the_first_instead_of_overwriting_its_request(
    tmp_path: Path, server: Any
) -> None:
    state, url = server
    clock = Clock()
    agent = _updating_agent(tmp_path, url, [WALL], clock)
    first = _queue(state, "update_agent", {"version": "9.9.9"})
    second = _queue(state, "update_agent", {"version": "9.9.8"})
    agent.run_commands()
    agent.run_commands()
    request_path = agent.config.state_dir / REQUEST_NAME
    assert json.loads(request_path.read_text())["command_id"] == first and state.acks == []
    process_request(agent.config.state_dir, _enable(tmp_path), Runner(returncode=1, stderr="no such version"))
    agent.run_commands()  # the first is acked with its failure, the second writes its request
    assert dict(state.acks)[first]["ok"] is False and second not in dict(state.acks)
    assert json.loads(request_path.read_text())["command_id"] == second


def test_a_bad_version_is_refused_by_the_agent_without_a_request(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _updating_agent(tmp_path, url, [WALL])
    command = _queue(state, "update_agent", {"version": "1.0; reboot"})
    agent.run_commands()
    assert dict(state.acks)[command]["ok"] is False
    assert "not a plain release" in dict(state.acks)[command]["error"]
    assert not (agent.config.state_dir / REQUEST_NAME).exists()


def test_another_commands_result_is_not_taken_for_this_one(tmp_path: Path, server: Any) -> None:
    state, url = server
    agent = _updating_agent(tmp_path, url, [WALL])
    stale = {"command_id": "cmd-old", "version": "9.9.9", "ok": False, "error": "old failure"}
    (agent.config.state_dir / RESULT_NAME).write_text(json.dumps(stale))
    _queue(state, "update_agent", {"version": "9.9.9"})
    agent.run_commands()
    assert state.acks == []  # a new request, not the old failure
    assert (agent.config.state_dir / REQUEST_NAME).exists()


# -- the updater -----------------------------------------------------------------------------------------


def _request(state_dir: Path, body: object) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / REQUEST_NAME).write_text(json.dumps(body))


def test_the_updater_runs_exactly_the_root_requirement_and_restarts(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _request(state_dir, {"command_id": "c-1", "version": "1.4.0", "requested_at": WALL.isoformat()})
    config = _enable(
        tmp_path,
        'requirement = "eventpulse-edge=={version}"\n'
        'index_url = "https://pypi.example.org/simple"\nvenv = "/opt/v"\n',
    )
    runner = Runner(stdout="x" * 5000 + "Successfully installed eventpulse-edge-1.4.0")
    result = process_request(state_dir, config, runner)
    assert runner.calls[0] == [
        "/opt/v/bin/python",
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--index-url",
        "https://pypi.example.org/simple",
        "eventpulse-edge==1.4.0",
    ]
    assert runner.calls[1:] == [["systemctl", "restart", "eventpulse-edge.service"]]
    written = _result(state_dir)
    assert written == result
    assert written["ok"] is True and written["command_id"] == "c-1" and written["version"] == "1.4.0"
    assert written["output"].endswith("Successfully installed eventpulse-edge-1.4.0")
    assert len(written["output"]) == updater.OUTPUT_TAIL_CHARS
    assert stat.S_IMODE((state_dir / RESULT_NAME).stat().st_mode) == 0o600
    assert not (state_dir / REQUEST_NAME).exists()


def test_a_pip_failure_is_a_result_with_stderrs_tail_and_no_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _request(state_dir, {"command_id": "c-2", "version": "1.4.0"})
    runner = Runner(returncode=1, stderr="y" * 5000 + "ERROR: Could not find a version")
    result = process_request(state_dir, _enable(tmp_path), runner)
    assert result is not None and result["ok"] is False
    assert result["error"].endswith("ERROR: Could not find a version")
    assert len(result["error"]) < updater.OUTPUT_TAIL_CHARS + 100
    assert runner.restarts == []
    assert not (state_dir / REQUEST_NAME).exists()


def test_a_pip_timeout_is_a_failure(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _request(state_dir, {"command_id": "c-3", "version": "1.4.0"})

    def hang(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(list(argv), timeout)

    result = process_request(
        state_dir, _enable(tmp_path, 'requirement = "p=={version}"\ntimeout_s = 5\n'), hang
    )
    assert result is not None and result["error"] == "pip did not finish within 5 s"
    assert not (state_dir / REQUEST_NAME).exists()


def test_no_update_toml_is_a_failure_naming_the_file(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _request(state_dir, {"command_id": "c-4", "version": "1.4.0"})
    runner = Runner()
    result = process_request(state_dir, tmp_path / "update.toml", runner)
    assert result is not None and result["ok"] is False
    assert result["error"] == f"remote update not enabled on this device: create {tmp_path / 'update.toml'}"
    assert runner.calls == [] and not (state_dir / REQUEST_NAME).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"command_id": "c-5", "version": "1.0 --index-url https://evil.example"},
        {"command_id": "c-5", "version": "-e git+https://evil.example/x"},
        {"command_id": "c-5", "version": 2},
        {"command_id": "c-5"},
        {"command_id": "../../etc/x", "version": "1.0.0"},
        ["not", "an", "object"],
    ],
)
def test_a_bad_request_is_refused_without_running_anything(tmp_path: Path, body: object) -> None:
    state_dir = tmp_path / "state"
    _request(state_dir, body)
    runner = Runner()
    result = process_request(state_dir, _enable(tmp_path), runner)
    assert runner.calls == []
    assert result is not None and result["ok"] is False and result["error"]
    assert not (state_dir / REQUEST_NAME).exists()


def test_a_symlinked_request_or_result_is_not_followed(tmp_path: Path) -> None:
    """The state folder is the agent user's: a planted symlink must not make root read or write elsewhere."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    secret = tmp_path / "root-only"
    secret.write_text('{"command_id": "c-6", "version": "1.0.0"}')
    (state_dir / REQUEST_NAME).symlink_to(secret)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (state_dir / RESULT_NAME).symlink_to(victim)
    runner = Runner()
    result = process_request(state_dir, _enable(tmp_path), runner)
    assert runner.calls == [] and result is not None and result["ok"] is False
    assert victim.read_text() == "keep me"
    assert not (state_dir / RESULT_NAME).is_symlink()
    assert not (state_dir / REQUEST_NAME).exists() and secret.exists()


def test_a_result_that_cannot_be_written_still_removes_the_request(tmp_path: Path) -> None:
    """A directory planted where the result goes: no crash, and no request left to trigger the path
    unit again and again."""
    state_dir = tmp_path / "state"
    _request(state_dir, {"command_id": "c-9", "version": "1.0.0"})
    (state_dir / RESULT_NAME).mkdir()
    result = process_request(state_dir, tmp_path / "absent.toml", Runner())
    assert result is not None and result["ok"] is False
    assert not (state_dir / REQUEST_NAME).exists()
    assert [p.name for p in state_dir.iterdir()] == [RESULT_NAME]  # no temp file left either


def test_a_bad_update_toml_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    for text, words in [
        ('requirement = "eventpulse-edge"\n', "{version}"),
        ('requirement = "--index-url=x {version}"\n', "not an option"),
        ('index_url = "http://plain.example/simple"\n', "https://"),
        ("surprise = 1\n", "unknown setting"),
        ("requirement = \n", ""),
    ]:
        _request(state_dir, {"command_id": "c-7", "version": "1.0.0"})
        runner = Runner()
        result = process_request(state_dir, _enable(tmp_path, text), runner)
        assert runner.calls == [] and result is not None and result["ok"] is False
        assert words in result["error"]


def test_no_request_is_nothing_to_do(tmp_path: Path) -> None:
    runner = Runner()
    assert process_request(tmp_path, _enable(tmp_path), runner) is None
    assert runner.calls == [] and not (tmp_path / RESULT_NAME).exists()


def test_main_exits_nonzero_for_a_failed_update(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = tmp_path / "state"
    _request(state_dir, {"command_id": "c-8", "version": "1.0.0"})
    code = updater.main(["--state-dir", str(state_dir), "--config", str(tmp_path / "absent.toml")])
    assert code == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("remote update not enabled")

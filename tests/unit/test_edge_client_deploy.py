"""The deploy files and the CLI: the example config loads, the unit matches the CLI's exit codes,
the install script parses, and `status` / `enqueue` work on a real spool."""

from __future__ import annotations

import configparser
import io
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from eventpulse_edge import cli
from eventpulse_edge.config import load_config
from eventpulse_edge.spool import Spool
from tests.unit.test_edge_client_agent import ENROLL, serve_stub  # the same in-process stub

DEPLOY = Path(__file__).resolve().parents[2] / "edge_client" / "deploy"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "eventpulse-edge.service")
    return parser


def test_example_config_is_valid_and_sets_what_the_installer_rewrites(tmp_path: Path) -> None:
    config = load_config(DEPLOY / "config.example.toml", {})
    assert config.device_id == "pi-field-001"
    assert config.enroll_token_file == Path("/etc/eventpulse-edge/enroll_token")
    text = (DEPLOY / "config.example.toml").read_text()
    script = (DEPLOY / "install.sh").read_text()
    for key in ("server_url", "device_id", "simulate"):
        assert f"^{key} = " in script and f"\n{key} = " in text


def test_unit_runs_as_a_dedicated_user_with_state_dir_restart_and_hardening() -> None:
    service = _unit()["Service"]
    assert service["User"] == "eventpulse-edge"
    assert service["StateDirectory"] == "eventpulse-edge"
    assert service["Restart"] == "always"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert set(service["RestartPreventExitStatus"].split()) == {
        str(cli.EXIT_CONFIG),
        str(cli.EXIT_AUTH),
        str(cli.EXIT_ENROLL_REFUSED),
    }
    assert service["RestartMaxDelaySec"] == "5min"  # repeated crashes back off instead of every 5 s
    assert str(cli.EXIT_RESTART) not in service["RestartPreventExitStatus"].split()
    assert service["ExecStart"].endswith("eventpulse-edge run")


def test_install_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY / "install.sh")], check=True)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVENTPULSE_EDGE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("EVENTPULSE_EDGE_DEVICE_ID", "pi-3")
    monkeypatch.setenv("EVENTPULSE_EDGE_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_enqueue_spools_stdin_events_and_status_reports_them(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "reading",
                "sensor": "soil",
                "value": 31.0,
                "units": "%",
                "ts": "2026-12-02T10:00:00",
            }
        )
        for _ in range(3)
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n\n"))
    assert cli.main(["enqueue"]) == 0
    assert cli.main(["status"]) == 0
    report = json.loads(capsys.readouterr().out.split("spooled 3 events\n", 1)[1])
    assert report["spool_depth"] == 3 and report["dropped_events"] == 0
    with Spool(env / "spool.sqlite3") as spool:
        batch = spool.cut_batch(10)
        assert batch is not None
        assert all(json.loads(line)["device_id"] == "pi-3" for line in batch.payload.decode().splitlines())


def test_enqueue_refuses_another_devices_rows(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    row = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "device_id": "pi-other",
            "event_type": "reading",
            "ts": "2026-12-02T10:00:00",
        }
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(row + "\n"))
    assert cli.main(["enqueue"]) == cli.EXIT_CONFIG


def test_missing_device_id_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPULSE_EDGE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("EVENTPULSE_EDGE_DEVICE_ID", raising=False)
    assert cli.main(["status"]) == cli.EXIT_CONFIG


def test_run_without_any_token_stops_with_the_auth_exit_code(env: Path) -> None:
    assert cli.main(["run"]) == cli.EXIT_AUTH


def test_an_enroll_refusal_exits_with_its_own_code_and_one_line_saying_what_to_do(
    env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 at first enrollment: exit 4 (systemd does not restart it), no traceback, the fix named."""
    stub = serve_stub()
    _, url = next(stub)
    try:
        monkeypatch.setenv("EVENTPULSE_EDGE_SERVER_URL", url)
        monkeypatch.setenv("EVENTPULSE_EDGE_ENROLL_TOKEN", "not-" + ENROLL)
        assert cli.main(["run"]) == cli.EXIT_ENROLL_REFUSED
    finally:
        stub.close()
    refused = [r for r in caplog.records if "enrollment refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].exc_info is None
    assert "enroll_token_file" in refused[0].getMessage()


def _ini(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    with (DEPLOY / name).open() as handle:
        parser.read_file(handle)
    return parser


def test_the_update_path_unit_watches_the_agents_request_file_and_starts_the_updater() -> None:
    from eventpulse_edge.updater import REQUEST_NAME

    path = _ini("eventpulse-edge-update.path")
    request = f"/var/lib/{_unit()['Service']['StateDirectory']}/{REQUEST_NAME}"
    assert path["Path"]["PathExists"] == request and path["Path"]["PathChanged"] == request
    assert path["Path"]["Unit"] == "eventpulse-edge-update.service"
    assert path["Install"]["WantedBy"] == "paths.target"


def test_the_updater_unit_is_a_hardened_root_oneshot_that_may_write_only_the_venv_and_state() -> None:
    unit = _ini("eventpulse-edge-update.service")
    service = unit["Service"]
    assert service["Type"] == "oneshot" and service["User"] == "root"
    assert "Install" not in unit  # started by the path unit only
    assert service["ExecStart"].split()[:3] == [
        "/opt/eventpulse-edge/venv/bin/python",
        "-m",
        "eventpulse_edge.updater",
    ]
    agent_exec = _unit()["Service"]["ExecStart"]
    assert agent_exec.startswith("/opt/eventpulse-edge/venv/")  # the venv the updater installs into
    for key in (
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelModules",
        "ProtectKernelTunables",
        "ProtectControlGroups",
        "RestrictSUIDSGID",
        "RestrictNamespaces",
    ):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert set(service["ReadWritePaths"].split()) == {"/opt/eventpulse-edge", "/var/lib/eventpulse-edge"}
    caps = set(service["CapabilityBoundingSet"].split())
    assert caps and not caps & {"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETUID", "CAP_SYS_MODULE"}
    assert "AF_UNIX" in service["RestrictAddressFamilies"]  # systemctl reaches systemd over its socket


def test_the_install_script_installs_and_enables_the_update_units() -> None:
    script = (DEPLOY / "install.sh").read_text()
    for name in ("eventpulse-edge-update.service", "eventpulse-edge-update.path"):
        assert f'"$HERE/deploy/{name}" /etc/systemd/system/{name}' in script
    assert "systemctl enable --now eventpulse-edge-update.path" in script
    assert '"$HERE/deploy/update.example.toml" "$CONF_DIR/update.toml"' in script
    assert "install -m 0600 -o root -g root" in script


def test_the_example_update_toml_is_what_the_updater_accepts(tmp_path: Path) -> None:
    from eventpulse_edge.updater import load_settings, pip_command

    settings = load_settings(DEPLOY / "update.example.toml")
    assert pip_command(settings, "1.2.3")[-1] == "eventpulse-edge==1.2.3"
    assert settings.index_url is None

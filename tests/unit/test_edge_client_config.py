"""Config precedence (defaults < TOML < environment) and the atomic, mode-600 secret files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from eventpulse_edge.config import ConfigError, EdgeConfig, load_config, read_secret, write_secret


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_when_neither_file_nor_environment_says_otherwise(tmp_path: Path) -> None:
    config = load_config(tmp_path / "missing.toml", {"EVENTPULSE_EDGE_DEVICE_ID": "pi-1"})
    assert config == EdgeConfig(device_id="pi-1")


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[edge]\ndevice_id = "pi-file"\nserver_url = "https://file.example"\n'
        "sampling_interval_s = 5\nsimulate = true\nbatch_max_events = 50\n",
    )
    env = {"EVENTPULSE_EDGE_SERVER_URL": "https://env.example", "EVENTPULSE_EDGE_BATCH_MAX_EVENTS": "7"}
    config = load_config(path, env)
    assert config.device_id == "pi-file"
    assert config.sampling_interval_s == 5.0
    assert config.simulate is True
    assert config.server_url == "https://env.example"
    assert config.batch_max_events == 7


def test_environment_types_are_coerced_and_paths_derive_from_the_state_dir(tmp_path: Path) -> None:
    env = {
        "EVENTPULSE_EDGE_DEVICE_ID": "pi-2",
        "EVENTPULSE_EDGE_SIMULATE": "off",
        "EVENTPULSE_EDGE_STATE_DIR": str(tmp_path / "state"),
        "EVENTPULSE_EDGE_LAT": "52.5",
    }
    config = load_config(tmp_path / "none.toml", env)
    assert config.simulate is False
    assert config.lat == 52.5
    assert config.spool_path == tmp_path / "state" / "spool.sqlite3"
    assert config.device_token_path == tmp_path / "state" / "device_token"


def test_upload_mode_defaults_to_direct_and_comes_from_the_file_or_the_environment(tmp_path: Path) -> None:
    assert load_config(tmp_path / "none.toml", {"EVENTPULSE_EDGE_DEVICE_ID": "p"}).upload_mode == "direct"
    path = _toml(tmp_path, 'device_id = "p"\nupload_mode = "signed_url"\n')
    assert load_config(path, {}).upload_mode == "signed_url"
    assert load_config(path, {"EVENTPULSE_EDGE_UPLOAD_MODE": "direct"}).upload_mode == "direct"


def test_config_path_itself_can_come_from_the_environment(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'device_id = "pi-top-level"\n')
    config = load_config(None, {"EVENTPULSE_EDGE_CONFIG": str(path)})
    assert config.device_id == "pi-top-level"


@pytest.mark.parametrize(
    ("text", "env", "names"),
    [
        ('device_id = "x"\nsampling_interval = 3\n', {}, "sampling_interval"),
        ('device_id = "x"\n', {"EVENTPULSE_EDGE_BATCH_MAX_EVENTS": "many"}, "BATCH_MAX_EVENTS"),
        ('device_id = "x"\n', {"EVENTPULSE_EDGE_SIMULATE": "perhaps"}, "SIMULATE"),
        ("", {}, "device_id"),
        ('device_id = "x"\nmax_spool_bytes = 10\n', {}, "max_spool_bytes"),
        ('device_id = "x"\nupload_mode = "ftp"\n', {}, "upload_mode"),
        ('device_id = "x"\nupload_jitter = 1.0\n', {}, "upload_jitter"),
        ('device_id = "x"\n', {"EVENTPULSE_EDGE_UPLOAD_JITTER": "-0.1"}, "upload_jitter"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    tmp_path: Path, text: str, env: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        load_config(_toml(tmp_path, text), env)


def test_enroll_token_comes_from_the_setting_or_its_file(tmp_path: Path) -> None:
    token_file = tmp_path / "enroll"
    token_file.write_text("from-file\n", encoding="utf-8")
    assert EdgeConfig(device_id="d", enroll_token_file=token_file).fleet_enroll_token() == "from-file"
    both = EdgeConfig(device_id="d", enroll_token="direct", enroll_token_file=token_file)
    assert both.fleet_enroll_token() == "direct"
    assert EdgeConfig(device_id="d", enroll_token_file=tmp_path / "absent").fleet_enroll_token() == ""


def test_secret_is_written_with_mode_600_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "state" / "device_token"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        write_secret(path, "first-token")
        write_secret(path, "second-token")
    finally:
        os.umask(old_umask)
    assert read_secret(path) == "second-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["device_token"]  # no temp file left behind


def test_existing_wider_mode_file_is_replaced_by_a_600_file(tmp_path: Path) -> None:
    path = tmp_path / "device_token"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    write_secret(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_secret(tmp_path / "never-written") == ""

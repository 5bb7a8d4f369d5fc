"""Agent configuration: defaults, then a TOML file, then EVENTPULSE_EDGE_* environment variables.

The environment wins so that a systemd drop-in or a one-off shell can override the file without editing
it. Secrets (the fleet enroll token, the device token) live in files, not in the TOML, so the config can be
world-readable while the secrets are mode 600.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "EVENTPULSE_EDGE_"
DEFAULT_CONFIG_PATH = Path("/etc/eventpulse-edge/config.toml")
UPLOAD_MODES = ("direct", "signed_url")
"""direct: POST the batch to the server; signed_url: mint a GCS signed PUT, PUT the bytes, finalize."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the setting."""


@dataclass(frozen=True)
class EdgeConfig:
    server_url: str = "http://localhost:8081"
    device_id: str = ""
    label: str = ""
    state_dir: Path = Path("/var/lib/eventpulse-edge")
    enroll_token: str = ""
    enroll_token_file: Path | None = None
    token_file: Path | None = None
    dataset: str = "edge_telemetry"
    upload_mode: str = "direct"
    simulate: bool = False
    sampling_interval_s: float = 10.0
    upload_interval_s: float = 30.0
    upload_jitter: float = 0.1
    heartbeat_interval_s: float = 60.0
    commands_interval_s: float = 30.0
    batch_max_events: int = 500
    max_spool_bytes: int = 64 * 1024 * 1024
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    http_timeout_s: float = 20.0
    firmware_version: str = "rpi-sim/1.0.0"
    lat: float | None = None
    lon: float | None = None
    log_lines_kept: int = 2000

    @property
    def spool_path(self) -> Path:
        return self.state_dir / "spool.sqlite3"

    @property
    def device_token_path(self) -> Path:
        return self.token_file or self.state_dir / "device_token"

    @property
    def fingerprint_path(self) -> Path:
        return self.state_dir / "enroll_fingerprint"

    def fleet_enroll_token(self) -> str:
        """The fleet bootstrap token: the setting, else the file's content, else '' (no re-enrollment)."""
        if self.enroll_token:
            return self.enroll_token
        if self.enroll_token_file and self.enroll_token_file.exists():
            return self.enroll_token_file.read_text(encoding="utf-8").strip()
        return ""


_FIELDS = {f.name: f for f in dataclasses.fields(EdgeConfig)}


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> EdgeConfig:
    """Defaults < TOML file (if it exists) < environment. Unknown TOML keys are an error, not ignored."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file_path = path or Path(env.get(ENV_PREFIX + "CONFIG", str(DEFAULT_CONFIG_PATH)))
    if file_path.exists():
        with file_path.open("rb") as handle:
            raw = tomllib.load(handle)
        table = raw.get("edge", raw)
        for key, value in table.items():
            if key not in _FIELDS:
                raise ConfigError(f"{file_path}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    for name in _FIELDS:
        env_value = env.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = _coerce(name, env_value)
    config = EdgeConfig(**values)
    _check(config)
    return config


def _coerce(name: str, value: Any) -> Any:
    """Turn a TOML value or an environment string into the field's type, naming the field on failure."""
    kind = str(_FIELDS[name].type)
    try:
        if value == "" and "None" in kind:
            return None
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("Path"):
            return Path(str(value))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name} ({ENV_PREFIX}{name.upper()}): cannot use {value!r}") from exc


def _check(config: EdgeConfig) -> None:
    if not config.device_id:
        raise ConfigError(f"device_id is required (config file or {ENV_PREFIX}DEVICE_ID)")
    for name in ("sampling_interval_s", "upload_interval_s", "heartbeat_interval_s", "commands_interval_s"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    if not 0 <= config.upload_jitter < 1:
        raise ConfigError("upload_jitter must be at least 0 and below 1 (a fraction of upload_interval_s)")
    if config.upload_mode not in UPLOAD_MODES:
        raise ConfigError(f"upload_mode must be one of {', '.join(UPLOAD_MODES)}, not {config.upload_mode!r}")
    if config.batch_max_events < 1:
        raise ConfigError("batch_max_events must be at least 1")
    if config.max_spool_bytes < 64 * 1024:
        raise ConfigError("max_spool_bytes must be at least 65536")


def write_secret(path: Path, value: str) -> None:
    """Write a secret atomically with mode 600: a temp file, fsync, os.replace, then fsync the folder.

    A power cut leaves either the old token or the new one, never an empty or half-written file; the
    temp file is created 600 so the secret is never readable by others, even for a moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, value.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_secret(path: Path) -> str:
    """A secret file's content without surrounding whitespace; '' when the file does not exist."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""

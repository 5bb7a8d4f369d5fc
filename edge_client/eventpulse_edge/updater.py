"""The root side of `update_agent`: install the requested version with pip, then restart the agent.

The agent runs as an unprivileged user under ProtectSystem=strict, so it cannot (and must not) install
anything. It only writes `<state_dir>/update-request.json` {command_id, version, requested_at}; the
`eventpulse-edge-update.path` unit sees the file and starts `eventpulse-edge-update.service`, which runs
this module as root. What gets installed is decided here, from the root-owned
`/etc/eventpulse-edge/update.toml`: the agent chooses a version, never a package, an index or a flag.
No such file means remote update is off on this device.

The state folder belongs to the agent user, so everything in it is treated as hostile: the request is
read without following symlinks and bounded in size, the version is validated again, and the result is
written through a fresh O_EXCL temp file renamed into place (a planted symlink is replaced, not
followed), then handed to the agent user with mode 600. The request is removed in every case so that the
path unit does not trigger again on the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUEST_NAME = "update-request.json"
RESULT_NAME = "update-result.json"
DEFAULT_STATE_DIR = Path("/var/lib/eventpulse-edge")
DEFAULT_UPDATE_CONFIG = Path("/etc/eventpulse-edge/update.toml")
DEFAULT_VENV = Path("/opt/eventpulse-edge/venv")
AGENT_UNIT = "eventpulse-edge.service"
AGENT_USER = "eventpulse-edge"
PIP_TIMEOUT_S = 600.0
OUTPUT_TAIL_CHARS = 2000
MAX_REQUEST_BYTES = 4096

VERSION_RE = re.compile(
    r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}((a|b|rc)[0-9]{1,6})?(\.post[0-9]{1,6})?(\.dev[0-9]{1,6})?$"
)
"""A plain release (`1.2.3`) with an optional pre (`a1`, `b2`, `rc1`), `.postN` and `.devN` suffix:
digits, dots and those letters only, so nothing in it can be read as a pip option, a URL or a shell word."""
COMMAND_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class UpdateError(Exception):
    """The update cannot go ahead; the message is the ack's error."""


def valid_version(value: object) -> bool:
    return isinstance(value, str) and VERSION_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class UpdateSettings:
    """/etc/eventpulse-edge/update.toml: root-owned, so only root decides where versions come from."""

    requirement: str = "eventpulse-edge=={version}"
    index_url: str | None = None
    venv: Path = DEFAULT_VENV
    timeout_s: float = PIP_TIMEOUT_S


def load_settings(path: Path) -> UpdateSettings:
    if not path.exists():
        raise UpdateError(f"remote update not enabled on this device: create {path}")
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    table = raw.get("update", raw)
    unknown = set(table) - {"requirement", "index_url", "venv", "timeout_s"}
    if unknown:
        raise UpdateError(f"{path}: unknown setting {sorted(unknown)[0]!r}")
    requirement = table.get("requirement", UpdateSettings.requirement)
    if not isinstance(requirement, str) or "{version}" not in requirement or requirement.startswith("-"):
        raise UpdateError(f"{path}: requirement must be a string containing {{version}}, not an option")
    index_url = table.get("index_url")
    if index_url is not None and (not isinstance(index_url, str) or not index_url.startswith("https://")):
        raise UpdateError(f"{path}: index_url must be an https:// URL")
    timeout = table.get("timeout_s", PIP_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise UpdateError(f"{path}: timeout_s must be a positive number")
    return UpdateSettings(requirement, index_url, Path(str(table.get("venv", DEFAULT_VENV))), float(timeout))


def pip_command(settings: UpdateSettings, version: str) -> list[str]:
    """The one command run as root; the version is already validated, the rest is root's file."""
    command = [str(settings.venv / "bin" / "python"), "-m", "pip", "install", "--no-input"]
    command += ["--disable-pip-version-check", "--no-cache-dir"]
    if settings.index_url:
        command += ["--index-url", settings.index_url]
    return command + [settings.requirement.format(version=version)]


Runner = Callable[[Sequence[str], float], subprocess.CompletedProcess[str]]


def run_process(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The real runner: no shell, captured output, a timeout."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


def _tail(text: str) -> str:
    return text[-OUTPUT_TAIL_CHARS:]


def read_request(path: Path) -> dict[str, Any]:
    """The request as the agent wrote it: no symlink, at most MAX_REQUEST_BYTES, a JSON object."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UpdateError(f"cannot read {path.name}: {exc.strerror}") from exc
    try:
        data = os.read(fd, MAX_REQUEST_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_REQUEST_BYTES:
        raise UpdateError(f"{path.name} is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise UpdateError(f"{path.name} is not JSON") from exc
    if not isinstance(body, dict):
        raise UpdateError(f"{path.name} is not a JSON object")
    return body


def write_result(path: Path, result: dict[str, Any], owner: tuple[int, int] | None) -> None:
    """Write the result for the agent: a new O_EXCL temp file (never a planted symlink), chowned to the
    agent user, mode 600, fsynced, renamed over whatever was at `path`."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            if owner is not None:
                os.fchown(fd, *owner)
            os.write(fd, json.dumps(result).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def agent_owner(state_dir: Path) -> tuple[int, int] | None:
    """The state folder's owner (the agent user, made by systemd's StateDirectory); None when we are not
    root (tests, or a manual dry run), where chown is neither possible nor needed."""
    if os.geteuid() != 0:
        return None
    info = os.stat(state_dir, follow_symlinks=False)
    return info.st_uid, info.st_gid


def process_request(
    state_dir: Path = DEFAULT_STATE_DIR,
    config_path: Path = DEFAULT_UPDATE_CONFIG,
    runner: Runner = run_process,
    restart_unit: str | None = AGENT_UNIT,
) -> dict[str, Any] | None:
    """Handle one request; the result written (None when there was no request). Never raises for a bad
    request: the agent reads the failure from the result file and acks the command with it."""
    request_path = state_dir / REQUEST_NAME
    try:
        request = read_request(request_path)
    except FileNotFoundError:
        return None
    except UpdateError as exc:
        request = {}
        refused: str | None = str(exc)
    else:
        refused = None
    command_id = request.get("command_id")
    version = request.get("version")
    result: dict[str, Any] = {
        "command_id": command_id
        if isinstance(command_id, str) and COMMAND_ID_RE.fullmatch(command_id)
        else None,
        "version": version if valid_version(version) else None,
        "ok": False,
    }
    restart = False
    try:
        if refused:
            raise UpdateError(refused)
        if result["command_id"] is None:
            raise UpdateError("the request has no valid command_id")
        if result["version"] is None:
            raise UpdateError(f"refused version {str(version)[:64]!r}: not a plain release like 1.2.3")
        settings = load_settings(config_path)
        argv = pip_command(settings, result["version"])
        try:
            completed = runner(argv, settings.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise UpdateError(f"pip did not finish within {settings.timeout_s:g} s") from exc
        except OSError as exc:
            raise UpdateError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        if completed.returncode != 0:
            raise UpdateError(
                f"pip install {result['version']} failed (exit {completed.returncode}): "
                + _tail(completed.stderr or completed.stdout or "")
            )
        result.update(ok=True, output=_tail(completed.stdout or ""))
        restart = True
    except (UpdateError, tomllib.TOMLDecodeError, OSError) as exc:
        result["error"] = str(exc)
    finally:
        result["finished_at"] = datetime.now(UTC).isoformat()
        try:
            write_result(state_dir / RESULT_NAME, result, agent_owner(state_dir))
        except OSError as exc:  # the agent then acks "the updater did not run" after its bound
            print(f"cannot write {RESULT_NAME}: {exc}", file=sys.stderr)
        # Always, so that the path unit does not start the updater again for the same request.
        request_path.unlink(missing_ok=True)
    if restart and restart_unit:
        try:
            restarted = runner(["systemctl", "restart", restart_unit], 60.0)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"cannot restart {restart_unit}: {exc}", file=sys.stderr)
        else:
            if restarted.returncode != 0:
                print(f"systemctl restart {restart_unit}: {_tail(restarted.stderr or '')}", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="eventpulse-edge-update", description="Install the version the agent asked for (run as root)."
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--config", type=Path, default=DEFAULT_UPDATE_CONFIG)
    parser.add_argument("--no-restart", action="store_true", help="do not restart the agent afterwards")
    args = parser.parse_args(argv)
    result = process_request(
        args.state_dir, args.config, restart_unit=None if args.no_restart else AGENT_UNIT
    )
    if result is None:
        print("no update request", file=sys.stderr)
        return 0
    print(json.dumps({key: result.get(key) for key in ("command_id", "version", "ok", "error")}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

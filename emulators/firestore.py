"""The local Firestore emulator: the npm package ``@firestore-emulator/server``, bound to 127.0.0.1.

The package binds every interface and has no flag for it, so ``emulators/firestore/serve.js`` binds its
gRPC server to 127.0.0.1 itself. Node modules are installed from the pinned ``package.json`` and
``package-lock.json`` into ``emulators/firestore/node_modules`` on first use (``npm ci``).

    python emulators/firestore.py start [--port 8086]
    python emulators/firestore.py status
    python emulators/firestore.py stop

Clients find it through ``FIRESTORE_EMULATOR_HOST=127.0.0.1:<port>``. Tests import it:
``with FirestoreEmulator() as fs: fs.host``. Known gaps of this emulator: no transaction isolation;
collection-group queries, DELETE_FIELD and BulkWriter are silently wrong; state is memory only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
DEFAULT_PORT = 8086
PACKAGE_DIR = Path(__file__).resolve().parent / "firestore"
STATE_DIR = Path(__file__).resolve().parent.parent / "data" / "emulators"


class EmulatorError(RuntimeError):
    """The emulator could not be installed, started or reached; the message says how to fix it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def is_ready(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_installed(package_dir: Path = PACKAGE_DIR) -> Path:
    """``node_modules`` from the lock file (``npm ci``) unless it is there already; returns serve.js."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise EmulatorError(
            "node and npm are needed for the Firestore emulator: `apt-get install nodejs npm`"
        )
    if not (package_dir / "node_modules" / "@firestore-emulator" / "server").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise EmulatorError(
                f"`npm ci` in {package_dir} failed (needs the npm registry):\n{done.stderr[-1500:]}"
            )
    return package_dir / "serve.js"


def wait_until_ready(
    port: int, process: subprocess.Popen[bytes], log_path: Path, deadline_s: float = 20
) -> None:
    end = time.monotonic() + deadline_s
    while not is_ready(port):
        if process.poll() is not None:
            raise EmulatorError(f"the Firestore emulator exited ({process.returncode}): {_tail(log_path)}")
        if time.monotonic() > end:
            raise EmulatorError(f"the Firestore emulator did not answer on {HOST}:{port} in {deadline_s:g}s")
        time.sleep(0.1)


class FirestoreEmulator:
    """The emulator on 127.0.0.1 as a child process; a context manager for tests."""

    def __init__(self, *, port: int | None = None, log_path: Path | None = None):
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp_log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def host(self) -> str:
        """The value of ``FIRESTORE_EMULATOR_HOST``."""
        return f"{HOST}:{self.port}"

    def start(self) -> str:
        serve_js = ensure_installed()
        if self.log_path is None:
            self._tmp_log = tempfile.NamedTemporaryFile(prefix="firestore-", suffix=".log")  # noqa: SIM115
            log_path = Path(self._tmp_log.name)
        else:
            log_path = self.log_path
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                ["node", str(serve_js), str(self.port)],
                cwd=PACKAGE_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_until_ready(self.port, self._process, log_path)
        except BaseException:
            self.stop()
            raise
        return self.host

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._tmp_log is not None:
            self._tmp_log.close()
            self._tmp_log = None

    def __enter__(self) -> FirestoreEmulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")[-500:].strip() or "no output"
    except OSError:
        return f"see {log_path}"


# --- the CLI: a detached server whose pid and port live in data/emulators/firestore.json ----------


def _state_file() -> Path:
    return STATE_DIR / "firestore.json"


def _read_state() -> dict[str, object] | None:
    try:
        return dict(json.loads(_state_file().read_text()))
    except (FileNotFoundError, ValueError):
        return None


def _is_our_process(pid: int) -> bool:
    try:
        return b"serve.js" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file


def cli_start(port: int) -> int:
    state = _read_state()
    if state and _is_our_process(int(str(state["pid"]))):
        print(f"Firestore emulator already running: {state['host']} (pid {state['pid']})")
        return 0
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = STATE_DIR / "firestore.log"
    try:
        serve_js = ensure_installed()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                ["node", str(serve_js), str(port)],
                cwd=PACKAGE_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives this command; `stop` ends it by its pid
            )
        wait_until_ready(port, process, log_path)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    host = f"{HOST}:{port}"
    _state_file().write_text(json.dumps({"pid": process.pid, "host": host}))
    print(f"Firestore emulator on {host} (gRPC, pid {process.pid}), log {log_path}")
    print(f"  export FIRESTORE_EMULATOR_HOST={host}")
    return 0


def cli_stop() -> int:
    state = _read_state()
    if state is None:
        print("Firestore emulator is not running")
        return 0
    pid = int(str(state["pid"]))
    if _is_our_process(pid):
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 10
        while _is_our_process(pid) and time.monotonic() < end:
            time.sleep(0.1)
    _state_file().unlink(missing_ok=True)
    print(f"Firestore emulator stopped (pid {pid})")
    return 0


def cli_status() -> int:
    state = _read_state()
    if state and _is_our_process(int(str(state["pid"]))):
        print(f"Firestore emulator running on {state['host']} (pid {state['pid']})")
        return 0
    print("Firestore emulator is not running")
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start detached (state in data/emulators/firestore.json)")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    sub.add_parser("stop", help="stop the detached emulator")
    sub.add_parser("status", help="exit 0 when running, 3 when not")
    args = parser.parse_args(argv)
    if args.command == "start":
        return cli_start(args.port)
    return cli_stop() if args.command == "stop" else cli_status()


if __name__ == "__main__":
    sys.exit(main())

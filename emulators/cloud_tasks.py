"""The local Cloud Tasks emulator: ``gcloud-tasks-emulator``, in its own virtualenv, bound to 127.0.0.1.

The emulator pins ``protobuf<5`` while the project's ``google-cloud-tasks`` needs protobuf 7, so it lives
in ``.emulators/tasks-venv`` (created from ``emulators/requirements-tasks.txt`` on first use, never in the
project's virtualenv). This file runs under both interpreters: the project's (start/stop/status, and tests
import it) and the emulator's (the hidden ``_serve`` command, the only code that imports the emulator).

    python emulators/cloud_tasks.py start [--port 9022] [--queue projects/P/locations/L/queues/Q]
    python emulators/cloud_tasks.py status
    python emulators/cloud_tasks.py stop

Tests: ``with CloudTasksEmulator(queues=[path]) as tasks: tasks.endpoint``.

``_serve`` adapts the emulator (0.6.2) where it differs from Cloud Tasks in ways EventPulse relies on:

- it binds ``[::]`` (every interface) and has no flag for it: we bind ``127.0.0.1`` only;
- it accepts a second task with an existing name: we answer ALREADY_EXISTS, as Cloud Tasks does, for a
  pending or in-flight task and for one executed or dropped within the last ``--tombstone-seconds``
  (Cloud Tasks: one hour);
- it has no GetTask: we add it (the queue adapter asks whether a duplicate is still pending).

Known gaps that stay: retries are immediate (no backoff) and bounded only by ``--max-retries`` for every
queue (a queue's retry_config is stored, not applied); ``dispatch_deadline`` and OIDC tokens are ignored;
every non-2xx answer, 4xx included, is retried, exactly as Cloud Tasks does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
DEFAULT_PORT = 9022
DEFAULT_QUEUE = "projects/eventpulse-local/locations/us-central1/queues/eventpulse-ingest"
DEFAULT_MAX_RETRIES = 9
"""Retries after the first attempt (10 attempts), as the production queue's max_attempts = 10."""
TOMBSTONE_SECONDS = 3600.0
"""How long a finished task's name stays taken (Cloud Tasks: 1 hour for queues it created)."""

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().with_name("requirements-tasks.txt")
VENV_DIR = ROOT / ".emulators" / "tasks-venv"
STATE_DIR = ROOT / "data" / "emulators"
VENV_HINT = (
    f"create it by hand: `{sys.executable} -m venv {VENV_DIR} && "
    f"{VENV_DIR}/bin/pip install -r {REQUIREMENTS}` (needs PyPI); never install gcloud-tasks-emulator "
    "into the project's .venv (it downgrades protobuf)"
)


class EmulatorError(RuntimeError):
    """The emulator could not be installed, started or reached; the message says how to fix it."""


def queue_path(project: str, location: str, queue: str) -> str:
    return f"projects/{project}/locations/{location}/queues/{queue}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- the emulator's virtualenv -------------------------------------------------------------------


def _requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_python(venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path = VENV_DIR) -> Path:
    """The emulator's interpreter; creates or refreshes the virtualenv when the pins changed."""
    stamp = venv / ".requirements.sha256"
    digest = _requirements_digest()
    python = venv_python(venv)
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"installing the Cloud Tasks emulator into {venv} (first use) ...", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()[-1500:]
            raise EmulatorError(f"`{' '.join(step)}` failed ({done.returncode}):\n{output}\n{VENV_HINT}")
    stamp.write_text(digest + "\n")
    return python


# --- start, wait, stop ---------------------------------------------------------------------------


def build_command(
    python: Path, port: int, queues: Sequence[str], *, max_retries: int, tombstone_seconds: float
) -> list[str]:
    command = [str(python), str(Path(__file__).resolve()), "_serve", "--port", str(port)]
    command += ["--max-retries", str(max_retries), "--tombstone-seconds", str(tombstone_seconds)]
    for queue in queues:
        command += ["--queue", queue]
    return command


def is_ready(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_ready(
    port: int, *, process: subprocess.Popen[bytes], log_path: Path, deadline_s: float = 30.0
) -> None:
    """Poll the port until it answers, the process dies, or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"the Cloud Tasks emulator exited with code {process.returncode} before listening on "
                f"{HOST}:{port}: {_tail(log_path)}. Is the port taken? Pick another with --port, or run "
                "`python emulators/cloud_tasks.py stop`."
            )
        if is_ready(port):
            return
        time.sleep(0.05)
    raise EmulatorError(
        f"the Cloud Tasks emulator did not listen on {HOST}:{port} within {deadline_s:.0f} s: "
        + _tail(log_path)
    )


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"  # google-api-core's Python-version notices
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(log_path: Path | None) -> str:
    if log_path is None:
        return "no log"
    try:
        return log_path.read_text(errors="replace")[-800:].strip() or "no output"
    except OSError:
        return f"see {log_path}"


class CloudTasksEmulator:
    """The emulator on 127.0.0.1 with the given queues created; a context manager for tests."""

    def __init__(
        self,
        *,
        port: int | None = None,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        max_retries: int = DEFAULT_MAX_RETRIES,
        tombstone_seconds: float = TOMBSTONE_SECONDS,
    ):
        self.port = port or free_port()
        self.queues = tuple(queues)
        self.max_retries = max_retries
        self.tombstone_seconds = tombstone_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def endpoint(self) -> str:
        """``host:port`` for EVENTPULSE_TASKS_ENDPOINT (gRPC, no scheme)."""
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        return Path(self._log.name) if self._log is not None else None

    def log_text(self) -> str:
        path = self.log_path
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def start(self, *, deadline_s: float = 30.0) -> str:
        python = ensure_venv()
        self._log = tempfile.NamedTemporaryFile(prefix="cloud-tasks-", suffix=".log")  # noqa: SIM115
        command = build_command(
            python,
            self.port,
            self.queues,
            max_retries=self.max_retries,
            tombstone_seconds=self.tombstone_seconds,
        )
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_child_env()
        )
        try:
            wait_until_ready(
                self.port, process=self._process, log_path=Path(self._log.name), deadline_s=deadline_s
            )
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> CloudTasksEmulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- the CLI: a detached emulator whose pid and port live in data/emulators/cloud_tasks.json -------


def _state_file() -> Path:
    return STATE_DIR / "cloud_tasks.json"


def _read_state() -> dict[str, Any] | None:
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
    return b"cloud_tasks.py" in cmdline and b"_serve" in cmdline


def cli_start(port: int, queues: Sequence[str], max_retries: int) -> int:
    state = _read_state()
    if state and _is_our_process(int(state["pid"])):
        print(f"Cloud Tasks emulator already running: {state['endpoint']} (pid {state['pid']})")
        return 0
    python = ensure_venv()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = STATE_DIR / "cloud_tasks.log"
    command = build_command(
        python, port, queues, max_retries=max_retries, tombstone_seconds=TOMBSTONE_SECONDS
    )
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_child_env(),
            start_new_session=True,  # survives this command; `stop` ends it by its pid
        )
    try:
        wait_until_ready(port, process=process, log_path=log_path)
    except EmulatorError as exc:
        process.terminate()
        print(f"error: {exc} (log: {log_path})", file=sys.stderr)
        return 1
    endpoint = f"{HOST}:{port}"
    _state_file().write_text(json.dumps({"pid": process.pid, "endpoint": endpoint, "queues": list(queues)}))
    print(f"Cloud Tasks emulator on {endpoint} (gRPC, pid {process.pid}), log {log_path}")
    for queue in queues:
        print(f"  queue {queue}")
    print(f"  export EVENTPULSE_QUEUE=cloud_tasks EVENTPULSE_TASKS_ENDPOINT={endpoint}")
    return 0


def cli_stop() -> int:
    state = _read_state()
    if not state:
        print("Cloud Tasks emulator is not running (no state file)")
        return 0
    pid = int(state["pid"])
    if _is_our_process(pid):
        os.kill(pid, signal.SIGTERM)
        print(f"stopped Cloud Tasks emulator (pid {pid})")
    else:
        print(f"Cloud Tasks emulator (pid {pid}) was not running")
    _state_file().unlink(missing_ok=True)
    return 0


def cli_status() -> int:
    state = _read_state()
    if state and _is_our_process(int(state["pid"])):
        port = int(str(state["endpoint"]).rsplit(":", 1)[1])
        if is_ready(port):
            print(f"Cloud Tasks emulator running: {state['endpoint']} (pid {state['pid']})")
            for queue in state.get("queues", []):
                print(f"  queue {queue}")
            return 0
    print("Cloud Tasks emulator is not running")
    return 3


# --- _serve: runs inside .emulators/tasks-venv ----------------------------------------------------


def serve(port: int, queues: Sequence[str], max_retries: int, tombstone_seconds: float) -> int:
    """Run the emulator on 127.0.0.1 until SIGTERM/SIGINT (the only code that imports it)."""
    from concurrent import futures

    import grpc
    from gcloud_tasks_emulator import server as emulator
    from gcloud_tasks_emulator.cloudtasks_pb2_grpc import add_CloudTasksServicer_to_server
    from google.api_core import exceptions as api_exceptions
    from google.cloud.tasks_v2 import Queue  # noqa: TID251 - the emulator's venv, not the package

    class State(emulator.QueueState):  # type: ignore[misc]
        """Task names are unique while pending or in flight, and for a while after (tombstones)."""

        def __init__(self) -> None:
            super().__init__(HOST, 80, max_retries)
            self._lock = threading.RLock()
            self._in_flight: dict[str, Any] = {}
            self._tombstones: dict[str, float] = {}

        def _pending(self, name: str) -> Any:
            queue = name.rsplit("/", 2)[0]
            for task in self._queue_tasks.get(queue, []):
                if task.name == name:
                    return task
            return self._in_flight.get(name)

        def create_task(self, queue: str, task: Any) -> Any:
            with self._lock:
                if task.name:
                    now = time.monotonic()
                    self._tombstones = {
                        n: t for n, t in self._tombstones.items() if now - t < tombstone_seconds
                    }
                    if task.name in self._tombstones or self._pending(task.name) is not None:
                        raise api_exceptions.AlreadyExists(f"Requested entity already exists: {task.name}")
                return super().create_task(queue, task)

        def submit_task(self, task_name: str, force_run: bool = False) -> Any:
            with self._lock:
                self._in_flight[task_name] = self._pending(task_name)
            try:
                task = super().submit_task(task_name, force_run)
            finally:
                with self._lock:
                    self._in_flight.pop(task_name, None)
                    if self._pending(task_name) is None:  # executed or given up: the name stays taken
                        self._tombstones[task_name] = time.monotonic()
            return task

        def get_task(self, name: str) -> Any:
            with self._lock:
                task = self._pending(name)
            if task is None:
                raise api_exceptions.NotFound(f"Task does not exist: {name}")
            return task

    class Servicer(emulator.Greeter):  # type: ignore[misc]
        def GetTask(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method name
            try:
                return self._state.get_task(request.name)
            except api_exceptions.GoogleAPICallError as err:
                context.abort(err.grpc_status_code, err.message)

    state = State()
    for name in queues:
        state.create_queue(name.rsplit("/", 2)[0], Queue(name=name))
    api = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_CloudTasksServicer_to_server(Servicer(state), api)
    try:
        api.add_insecure_port(f"{HOST}:{port}")
    except RuntimeError as exc:
        print(f"cannot listen on {HOST}:{port}: {exc}", flush=True)
        return 2
    api.start()
    processor = emulator.Processor(state)
    processor.daemon = True
    processor.start()
    print(f"Cloud Tasks emulator listening on {HOST}:{port}; queues: {', '.join(queues)}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    processor.join(timeout=1)
    api.stop(grace=0)
    os._exit(0)  # the per-queue dispatch threads may be blocked in an HTTP call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, stop or query the local Cloud Tasks emulator.")
    parser.add_argument("command", choices=["start", "stop", "status", "_serve"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--queue",
        action="append",
        help=f"queue path to create (repeatable); default {DEFAULT_QUEUE}",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=DEFAULT_MAX_RETRIES,
        help="retries of a failed task after its first attempt, on every queue (-1: forever)",
    )
    parser.add_argument("--tombstone-seconds", type=float, default=TOMBSTONE_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    queues = args.queue or [DEFAULT_QUEUE]
    try:
        if args.command == "_serve":
            logging_setup()
            return serve(args.port, queues, args.max_retries, args.tombstone_seconds)
        if args.command == "start":
            return cli_start(args.port, queues, args.max_retries)
        if args.command == "stop":
            return cli_stop()
        return cli_status()
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def logging_setup() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())

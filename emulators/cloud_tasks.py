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
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (also by the emulator's interpreter): find `emulators`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators import _process  # noqa: E402
from emulators._process import HOST, EmulatorError, free_port  # noqa: E402  (public here too)

DEFAULT_PORT = 9022
DEFAULT_QUEUE = "projects/eventpulse-local/locations/us-central1/queues/eventpulse-ingest"
DEFAULT_MAX_RETRIES = 9
"""Retries after the first attempt (10 attempts), as the production queue's max_attempts = 10."""
TOMBSTONE_SECONDS = 3600.0
"""How long a finished task's name stays taken (Cloud Tasks: 1 hour for queues it created)."""

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().with_name("requirements-tasks.txt")
VENV_DIR = ROOT / ".emulators" / "tasks-venv"
LAUNCHER = _process.Launcher(
    "cloud_tasks", "Cloud Tasks emulator", owns=lambda cmd: b"cloud_tasks.py" in cmd and b"_serve" in cmd
)
"""``start|stop|status``: a detached emulator whose pid and port live in data/emulators/cloud_tasks.json."""
VENV_HINT = (
    f"create it by hand: `{sys.executable} -m venv {VENV_DIR} && "
    f"{VENV_DIR}/bin/pip install -r {REQUIREMENTS}` (needs PyPI); never install gcloud-tasks-emulator "
    "into the project's .venv (it downgrades protobuf)"
)


def queue_path(project: str, location: str, queue: str) -> str:
    return f"projects/{project}/locations/{location}/queues/{queue}"


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


is_ready = _process.port_open


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"  # google-api-core's Python-version notices
    env["PYTHONUNBUFFERED"] = "1"
    return env


class CloudTasksEmulator(_process.ChildEmulator):
    """The emulator on 127.0.0.1 with the given queues created; a context manager for tests."""

    launcher = LAUNCHER

    def __init__(
        self,
        *,
        port: int | None = None,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        max_retries: int = DEFAULT_MAX_RETRIES,
        tombstone_seconds: float = TOMBSTONE_SECONDS,
    ):
        super().__init__()
        self.port = port or free_port()
        self.queues = tuple(queues)
        self.max_retries = max_retries
        self.tombstone_seconds = tombstone_seconds

    @property
    def endpoint(self) -> str:
        """``host:port`` for EVENTPULSE_TASKS_ENDPOINT (gRPC, no scheme)."""
        return f"{HOST}:{self.port}"

    def log_text(self) -> str:
        """The emulator's output so far (its log is a temporary file, gone after ``stop``)."""
        path = self.log_path
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def start(self, *, deadline_s: float = 30.0) -> str:
        python = ensure_venv()
        command = build_command(
            python,
            self.port,
            self.queues,
            max_retries=self.max_retries,
            tombstone_seconds=self.tombstone_seconds,
        )
        self._launch(
            command,
            ready=lambda: is_ready(self.port),
            where=self.endpoint,
            deadline_s=deadline_s,
            env=_child_env(),
        )
        return self.endpoint


# --- the CLI (LAUNCHER) ----------------------------------------------------------------------------


def cli_start(port: int, queues: Sequence[str], max_retries: int) -> int:
    endpoint = f"{HOST}:{port}"
    return LAUNCHER.start(
        lambda: build_command(
            ensure_venv(), port, queues, max_retries=max_retries, tombstone_seconds=TOMBSTONE_SECONDS
        ),
        address=endpoint,
        ready=lambda: is_ready(port),
        deadline_s=30.0,
        details=[f"queue {queue}" for queue in queues],
        exports=f"EVENTPULSE_QUEUE=cloud_tasks EVENTPULSE_TASKS_ENDPOINT={endpoint}",
        env=_child_env(),
    )


def _answers(state: dict[str, Any]) -> bool:
    return is_ready(int(str(state["endpoint"]).rsplit(":", 1)[1]))


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


def _options(parser: argparse.ArgumentParser) -> None:
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


def _serve(args: argparse.Namespace) -> int:
    logging_setup()
    return serve(args.port, args.queue or [DEFAULT_QUEUE], args.max_retries, args.tombstone_seconds)


def main(argv: list[str] | None = None) -> int:
    return _process.run_cli(
        argv,
        LAUNCHER,
        options=_options,
        start=lambda args: cli_start(args.port, args.queue or [DEFAULT_QUEUE], args.max_retries),
        answers=_answers,
        hidden={"_serve": _serve},
    )


def logging_setup() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())

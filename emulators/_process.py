"""Process management the emulator launchers (``gcs.py``, ``cloud_tasks.py``, ``firestore.py``) share.

- ``free_port``, ``port_open`` and ``wait_until``: a port on 127.0.0.1, and readiness with a deadline;
- ``ChildEmulator``: an emulator as a child of this process, a context manager for tests;
- ``Launcher`` and ``run_cli``: ``start|stop|status``, the emulator detached from the command that started
  it, its pid and address in ``data/emulators/<name>.json`` and its output in ``data/emulators/<name>.log``.

Standard library only: ``cloud_tasks.py`` also runs under the Cloud Tasks emulator's own interpreter.
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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

HOST = "127.0.0.1"
"""Every emulator binds the loopback interface only."""
STATE_DIR = Path(__file__).resolve().parent.parent / "data" / "emulators"
NOT_RUNNING = 3
"""The exit code of ``status`` when the emulator is not running."""


class EmulatorError(RuntimeError):
    """The emulator could not be installed, started or reached; the message says how to fix it."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(log_path: Path | None, chars: int = 800) -> str:
    """The end of a log, for an error message."""
    if log_path is None:
        return "no log"
    try:
        return log_path.read_text(errors="replace")[-chars:].strip() or "no output"
    except OSError:
        return f"see {log_path}"


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    where: str,
    script: str,
    deadline_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``ready`` until it is true, ``process`` dies, or the deadline passes.

    ``what`` names the server ("the Firestore emulator"), ``where`` its address, ``script`` the launcher
    (``emulators/firestore.py``) whose ``stop`` frees the port.
    """
    hint = f"Is the port taken? Pick another with --port, or run `python {script} stop`."
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmulatorError(
                f"{what} exited with code {process.returncode} before answering on {where}: "
                f"{tail(log_path)}. {hint}"
            )
        if ready():
            return
        time.sleep(0.05)
    log = f": {tail(log_path)}" if log_path is not None else ""
    raise EmulatorError(f"{what} did not answer on {where} within {deadline_s:g} s{log}. {hint}")


def terminate(process: subprocess.Popen[bytes], timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL when it is still there after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_Emulator = TypeVar("_Emulator", bound="ChildEmulator")


class ChildEmulator:
    """An emulator run as a child process, its output in ``log_path`` (a temporary file when None).

    Subclasses set ``launcher`` and implement ``start`` with ``_launch``; ``stop`` and ``with`` come from
    here.
    """

    launcher: ClassVar[Launcher]
    """Names the emulator in messages (and its ``stop`` command, in case a detached one holds the port)."""

    def __init__(self, *, log_path: Path | None = None):
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp_log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def log_path(self) -> Path | None:
        """The log: the one given, else the temporary one while running."""
        if self._log_path is None and self._tmp_log is not None:
            return Path(self._tmp_log.name)
        return self._log_path

    def start(self) -> str:
        raise NotImplementedError

    def _spawn(self, command: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
        """Start ``command`` with its output appended to ``log_path`` (a new temporary file when None)."""
        if self._log_path is None:
            prefix = f"{self.launcher.name}-"
            self._tmp_log = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log")  # noqa: SIM115
        assert self.log_path is not None
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **popen
            )
        return self._process

    def _launch(
        self,
        command: Sequence[str],
        *,
        ready: Callable[[], bool],
        where: str,
        deadline_s: float,
        **popen: Any,
    ) -> None:
        """``_spawn``, then wait until ``ready()``; stopped again when that fails."""
        process = self._spawn(command, **popen)
        try:
            self.launcher.wait(
                ready, where=where, deadline_s=deadline_s, process=process, log_path=self.log_path
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process)
            self._process = None
        if self._tmp_log is not None:
            self._tmp_log.close()
            self._tmp_log = None

    def __enter__(self: _Emulator) -> _Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Launcher:
    """``start|stop|status`` of one emulator run detached; ``stop`` ends it by the pid in its state file."""

    name: str
    """``emulators/<name>.py`` is the launcher; ``data/emulators/<name>.json`` and ``.log`` its state."""
    title: str
    """For messages: "GCS emulator"."""
    owns: Callable[[bytes], bool]
    """Whether a ``/proc/<pid>/cmdline`` is this emulator's (a pid file can outlive its process)."""
    address_key: str = "endpoint"
    """The state file's key for the address clients use."""

    @property
    def script(self) -> str:
        return f"emulators/{self.name}.py"

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f"{self.name}.json"

    @property
    def log_path(self) -> Path:
        return STATE_DIR / f"{self.name}.log"

    def read_state(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            try:
                os.kill(pid, 0)
            except OSError:
                return False
            return True  # no /proc (macOS): trust the pid file
        return self.owns(cmdline)

    def wait(
        self,
        ready: Callable[[], bool],
        *,
        where: str,
        deadline_s: float,
        process: subprocess.Popen[bytes],
        log_path: Path | None,
    ) -> None:
        """``wait_until`` with this emulator's name and ``stop`` command in the messages."""
        wait_until(
            ready,
            what=f"the {self.title}",
            where=where,
            script=self.script,
            deadline_s=deadline_s,
            process=process,
            log_path=log_path,
        )

    def running(self) -> dict[str, Any] | None:
        """The state of the emulator when its process is alive."""
        state = self.read_state()
        return state if state and self.is_ours(int(state["pid"])) else None

    def start(
        self,
        command: Callable[[], Sequence[str]],
        *,
        address: str,
        ready: Callable[[], bool],
        deadline_s: float,
        details: Sequence[str] = (),
        exports: str = "",
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """Start ``command()`` detached, wait until ``ready()``, record its pid; exit code 0 or 1.

        ``details`` are lines that ``start`` and ``status`` print under the address, ``exports`` the
        environment a client needs (``start`` prints it).
        """
        state = self.running()
        if state:
            print(f"{self.title} already running: {state[self.address_key]} (pid {state['pid']})")
            return 0
        argv = list(command())  # may install the emulator first
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=None if env is None else dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives this command; `stop` ends it by its pid
            )
        try:
            self.wait(ready, where=address, deadline_s=deadline_s, process=process, log_path=self.log_path)
        except EmulatorError as exc:
            if process.poll() is None:
                process.terminate()
            print(f"error: {exc} (log: {self.log_path})", file=sys.stderr)
            return 1
        record = {"pid": process.pid, self.address_key: address, "details": list(details)}
        self.state_file.write_text(json.dumps(record))
        print(f"{self.title} on {address} (pid {process.pid}), log {self.log_path}")
        for line in details:
            print(f"  {line}")
        if exports:
            print(f"  export {exports}")
        return 0

    def stop(self, *, wait_s: float = 10.0) -> int:
        """SIGTERM to the recorded pid, then wait (up to ``wait_s``) until it is gone; always 0."""
        state = self.read_state()
        if not state:
            print(f"{self.title} is not running (no state file)")
            return 0
        pid = int(state["pid"])
        if self.is_ours(pid):
            os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + wait_s
            while self.is_ours(pid) and time.monotonic() < end:
                time.sleep(0.1)
            print(f"stopped {self.title} (pid {pid})")
        else:
            print(f"{self.title} (pid {pid}) was not running")
        self.state_file.unlink(missing_ok=True)
        return 0

    def status(self, answers: Callable[[dict[str, Any]], bool] = lambda state: True) -> int:
        """0 when the recorded process is alive and ``answers(state)``, else ``NOT_RUNNING``."""
        state = self.running()
        if state and answers(state):
            print(f"{self.title} running: {state[self.address_key]} (pid {state['pid']})")
            for line in state.get("details", []):
                print(f"  {line}")
            return 0
        print(f"{self.title} is not running")
        return NOT_RUNNING


def run_cli(
    argv: Sequence[str] | None,
    launcher: Launcher,
    *,
    options: Callable[[argparse.ArgumentParser], None],
    start: Callable[[argparse.Namespace], int],
    answers: Callable[[dict[str, Any]], bool] = lambda state: True,
    hidden: Mapping[str, Callable[[argparse.Namespace], int]] | None = None,
) -> int:
    """``python emulators/<name>.py start|stop|status [options]``; ``hidden`` adds internal commands."""
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "start": start,
        "stop": lambda _: launcher.stop(),
        "status": lambda _: launcher.status(answers),
        **(hidden or {}),
    }
    parser = argparse.ArgumentParser(description=f"Start, stop or query the local {launcher.title}.")
    parser.add_argument(
        "command",
        choices=list(commands),
        help=f"start detached (pid in {launcher.state_file.relative_to(STATE_DIR.parent.parent)}), stop "
        f"it, or status (exit 0 when it runs, {NOT_RUNNING} when not)",
    )
    options(parser)
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

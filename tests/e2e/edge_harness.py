"""Real processes for the edge agent's end-to-end tests: the server, the agent, a loopback fault proxy.

Everything here runs on 127.0.0.1 and every wait is bounded. The server is ``eventpulse serve`` (waitress,
inline queue, processing on its background thread) started as its own process group so a test can stop
and restart it like an outage; the agent is ``eventpulse-edge run`` with a TOML config in
simulated-sensors mode. The fault proxy is a small threading HTTP proxy that answers 500, delays, or holds
requests for the next N requests that match, so the agent meets a flaky server without any fake of the
server itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, TEST_TOKEN_SHA256
from tests.helpers import wait_until

BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO_ROOT / ".venv") / "bin"
ENROLL_TOKEN = "edge-e2e-enroll-token-0123456789abcdef"
ENROLL_TOKEN_SHA256 = hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest()
PEPPER = "edge-e2e-pepper-0123456789abcdef0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _base_env(home: Path) -> dict[str, str]:
    """A minimal environment: nothing of the developer's EVENTPULSE_* or DATABASE_URL leaks in."""
    return {
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


def kill_group(process: subprocess.Popen[Any], sig: int = signal.SIGKILL, timeout: float = 10.0) -> bool:
    """Signal the process's whole group (it was started in a new session) and reap it, bounded.

    True when ``sig`` was not enough within ``timeout`` and the group had to be SIGKILLed.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
        return True


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # an error status is an answer
    except OSError:
        return False
    return True


@dataclass
class ServerProcess:
    """``eventpulse serve`` on a fixed loopback port, so the agent's server_url survives a restart."""

    database_url: str
    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    """Settings on top of the defaults below (the GCS landing on the emulator, the Firestore registry)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **_base_env(self.data_dir.parent),
            "DATABASE_URL": self.database_url,
            "EVENTPULSE_MODE": "local",
            "EVENTPULSE_DATA_DIR": str(self.data_dir),
            "EVENTPULSE_CONTRACTS_DIR": str(REPO_ROOT / "contracts"),
            "EVENTPULSE_QUEUE": "inline",
            "EVENTPULSE_API_TOKENS": f"e2e-admin:admin:{TEST_TOKEN_SHA256}",
            "EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256": ENROLL_TOKEN_SHA256,
            "EVENTPULSE_DEVICE_TOKEN_PEPPER": PEPPER,
            "EVENTPULSE_ENROLL_RATE_PER_MINUTE": "1000",
            "EVENTPULSE_RECLAIM_INTERVAL_SECONDS": "2",
            "EVENTPULSE_STALE_AFTER_SECONDS": "5",
            "EVENTPULSE_LOG_FORMAT": "text",
            **self.extra_env,
        }

    def start(self, timeout: float = 60.0) -> None:
        assert self.process is None or self.process.poll() is not None, "the server is already running"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts} ---\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [str(BIN / "eventpulse"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.data_dir.parent,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: _answers(self.url + "/health"),
            f"the server to answer on {self.url}",
            timeout=timeout,
            interval=0.1,
            process=self.process,
            log=self.log,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); the log says which one ended it."""
        if self.process is not None and self.process.poll() is None:
            started = time.monotonic()
            escalated = kill_group(self.process, sig)
            how = "SIGKILL after SIGTERM timed out" if escalated else f"exit {self.process.returncode}"
            with self.log.open("a") as out:
                out.write(f"--- stop {self.starts}: {how} in {time.monotonic() - started:.1f} s ---\n")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class AgentProcess:
    """One device's ``eventpulse-edge`` state folder and config; each ``start`` is a new process."""

    device_id: str
    server_url: str
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.enroll_token_file.write_text(ENROLL_TOKEN)
        self.enroll_token_file.chmod(0o600)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def enroll_token_file(self) -> Path:
        return self.root / "enroll_token"

    @property
    def log(self) -> Path:
        return self.root / "agent.log"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def write_config(self, **overrides: Any) -> None:
        values: dict[str, Any] = {
            "server_url": self.server_url,
            "device_id": self.device_id,
            "label": "e2e",
            "state_dir": str(self.state_dir),
            "enroll_token_file": str(self.enroll_token_file),
            "simulate": True,
            "sampling_interval_s": 0.25,
            "upload_interval_s": 0.5,
            "heartbeat_interval_s": 2.0,
            "commands_interval_s": 5.0,
            "batch_max_events": 40,
            "backoff_base_s": 0.2,
            "backoff_cap_s": 1.0,
            "http_timeout_s": 5.0,
            **self.settings,
            **overrides,
        }
        lines = ["[edge]"]
        for key, value in values.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f'{key} = "{value}"')
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, **overrides: Any) -> subprocess.Popen[bytes]:
        assert self.process is None or self.process.poll() is not None, "the agent is already running"
        self.write_config(**overrides)
        self.runs += 1
        with self.log.open("ab") as out:
            out.write(f"\n--- run {self.runs} ---\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [str(BIN / "eventpulse-edge"), "--config", str(self.config_path), "run"],
                cwd=self.root,
                env=_base_env(self.root),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process, signal.SIGKILL)

    def stop(self) -> int:
        """SIGTERM (what systemd sends): the agent leaves its loop and exits 0."""
        assert self.process is not None
        kill_group(self.process, signal.SIGTERM, timeout=15)
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # -- the spool, read-only from outside (SQLite WAL allows a reader next to the writer) -------------

    def spool(self) -> dict[str, int]:
        """Events ever appended (AUTOINCREMENT high mark), still waiting, and the spool's counters."""
        path = self.state_dir / "spool.sqlite3"
        empty = dict.fromkeys(
            ("appended", "depth", "pending_batches", "dropped_events", "rejected_events", "sent_batches"), 0
        )
        if not path.exists():
            return empty
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'counters'").fetchone() is None:
                return empty  # the agent is still creating its spool
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            loose = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            batches = db.execute("SELECT COUNT(*), COALESCE(SUM(n_events), 0) FROM batches").fetchone()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        finally:
            db.close()
        return {
            "appended": int(seq[0]) if seq else 0,
            "depth": int(loose) + int(batches[1]),
            "pending_batches": int(batches[0]),
            "dropped_events": int(counters.get("dropped_events", 0)),
            "rejected_events": int(counters.get("rejected_events", 0)),
            "sent_batches": int(counters.get("sent_batches", 0)),
        }


# -- the fault proxy ---------------------------------------------------------------------------------

UPLOAD_PATH = "/api/edge/ingest/upload"
INJECTED_500 = b'{"error":{"code":"injected","message":"injected by the fault proxy"}}'
_JSON = {"Content-Type": "application/json"}


@dataclass
class Fault:
    """What the proxy does to one matching request.

    ``kind``: ``"pass"`` forwards untouched (to place a later fault); ``"500"`` (or ``"503"``) answers
    500 (503) without forwarding; ``"500-after"`` forwards (the server accepts) and answers 500 instead
    of the real answer;
    ``"delay"`` waits ``seconds`` before forwarding; ``"slow"`` forwards, then waits ``seconds`` before
    answering (longer than the agent's timeout: the server accepted, the agent never hears it);
    ``"hold"``/``"hold-after"`` park the request before/after forwarding until ``release()`` (used to
    SIGKILL the agent mid-upload); a ``"hold"`` request is then dropped without reaching the server.
    """

    kind: str
    seconds: float = 0.0


class FaultProxy:
    """A bounded loopback HTTP proxy in front of the server that injects the next planned faults.

    Faults apply, in order, to requests whose path starts with ``match`` (default: the upload route);
    every other request and every request after the plan is used up is forwarded untouched. The proxy
    counts what it did so the test can assert that the agent really met each fault.
    """

    def __init__(self, upstream_port: int, match: str = UPLOAD_PATH) -> None:
        self.upstream_port = upstream_port
        self.match = match
        self.plan: deque[Fault] = deque()
        self.done: list[tuple[str, str]] = []
        self.forwarded: list[tuple[str, int]] = []
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                return

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.plan.extend(faults)

    def remaining(self) -> int:
        with self._lock:
            return len(self.plan)

    def release(self) -> None:
        self._release.set()

    def rearm(self) -> None:
        """Forget a previous hold so the next hold fault parks again."""
        self.held.clear()
        self._release.clear()

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self, path: str) -> Fault | None:
        if not path.startswith(self.match):
            return None
        with self._lock:
            return self.plan.popleft() if self.plan else None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        fault = self._next_fault(request.path)
        if fault is not None:
            with self._lock:
                self.done.append((fault.kind, request.path))
        kind = fault.kind if fault else ""
        if kind in ("500", "503"):
            self._answer(request, int(kind), _JSON, INJECTED_500)
            return
        if kind == "delay":
            time.sleep(fault.seconds if fault else 0)
        if kind == "hold":  # parked, then dropped: the server never sees this request
            self.held.set()
            self._release.wait(timeout=30)
            request.close_connection = True
            return
        status, headers, answer = self._forward(request, body)
        if kind == "500-after":
            self._answer(request, 500, _JSON, INJECTED_500)
            return
        if kind == "slow":
            time.sleep(fault.seconds if fault else 0)
        if kind == "hold-after":
            self.held.set()
            self._release.wait(timeout=30)
        self._answer(request, status, headers, answer)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in {"connection", "host"}}
            connection.request(request.command, request.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in {"connection", "transfer-encoding", "content-length"}
            }
            with self._lock:
                self.forwarded.append((request.path, response.status))
            return response.status, kept, answer
        except OSError:
            return 502, _JSON, b'{"error":{"message":"upstream down"}}'
        finally:
            connection.close()

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            request.send_response(status)
            for key, value in headers.items():
                request.send_header(key, value)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except OSError:
            pass  # the agent went away (timed out or was killed): that is the point of the fault

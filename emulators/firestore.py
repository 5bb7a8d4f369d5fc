"""The local Firestore emulator: the npm package ``@firestore-emulator/server``, bound to 127.0.0.1.

The package binds every interface and has no flag for it, so ``emulators/firestore/serve.js`` binds its
gRPC server to 127.0.0.1 itself. Node modules are installed from the pinned ``package.json`` and
``package-lock.json`` into ``emulators/firestore/node_modules`` on first use (``npm ci``).

    python emulators/firestore.py start [--port 8086]
    python emulators/firestore.py status
    python emulators/firestore.py stop

Clients find it through ``FIRESTORE_EMULATOR_HOST=127.0.0.1:<port>``. Tests import it:
``with FirestoreEmulator() as fs: fs.host``. Known gaps of this emulator: no transaction isolation;
collection-group queries, DELETE_FIELD and BulkWriter are silently wrong; so are update-time
preconditions, ``start_after``, ``== None`` filters and failed batches (emulators/README.md); state
is memory only.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script, or imported from emulators/: find `emulators`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators import _process  # noqa: E402
from emulators._process import HOST, EmulatorError, free_port  # noqa: E402  (public here too)

DEFAULT_PORT = 8086
PACKAGE_DIR = Path(__file__).resolve().parent / "firestore"
LAUNCHER = _process.Launcher(
    "firestore", "Firestore emulator", owns=lambda cmd: b"serve.js" in cmd, address_key="host"
)
"""``start|stop|status``: a detached server whose pid and port live in data/emulators/firestore.json."""


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


class FirestoreEmulator(_process.ChildEmulator):
    """The emulator on 127.0.0.1 as a child process; a context manager for tests."""

    launcher = LAUNCHER

    def __init__(self, *, port: int | None = None, log_path: Path | None = None):
        super().__init__(log_path=log_path)
        self.port = port or free_port()

    @property
    def host(self) -> str:
        """The value of ``FIRESTORE_EMULATOR_HOST``."""
        return f"{HOST}:{self.port}"

    def start(self) -> str:
        command = ["node", str(ensure_installed()), str(self.port)]
        self._launch(
            command,
            ready=lambda: _process.port_open(self.port),
            where=self.host,
            deadline_s=20,
            cwd=PACKAGE_DIR,
        )
        return self.host


def cli_start(port: int) -> int:
    host = f"{HOST}:{port}"
    return LAUNCHER.start(
        lambda: ["node", str(ensure_installed()), str(port)],
        address=host,
        ready=lambda: _process.port_open(port),
        deadline_s=20,
        exports=f"FIRESTORE_EMULATOR_HOST={host}",
        cwd=PACKAGE_DIR,
    )


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)


def main(argv: list[str] | None = None) -> int:
    return _process.run_cli(argv, LAUNCHER, options=_options, start=lambda args: cli_start(args.port))


if __name__ == "__main__":
    sys.exit(main())

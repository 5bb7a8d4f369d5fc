"""Cloud test support: the GCS emulator (fake-gcs-server, ``emulators/gcs.py``) and a throwaway signer."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

BUCKET = "eventpulse-test-raw"


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    sys.path.insert(0, str(REPO_ROOT / "emulators"))
    try:
        from gcs import GcsEmulator  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO_ROOT / "emulators"))
    with GcsEmulator(bucket=BUCKET) as gcs:
        yield gcs.endpoint


def signer_key(path: Path) -> Path:
    """A throwaway service-account key: V4 signing needs one; the emulator does not check it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "eventpulse-local",
                "private_key_id": "test",
                "private_key": pem,
                "client_email": "signer@eventpulse-local.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path

"""The npm Firestore emulator starts on 127.0.0.1 and Google's own client reads back what it wrote."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "emulators"))
from firestore import HOST, FirestoreEmulator  # noqa: E402  (emulators/ is not a package)

sys.path.remove(str(REPO_ROOT / "emulators"))


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    with FirestoreEmulator() as emulator:
        yield emulator.host


def test_firestore_emulator_binds_loopback_and_round_trips_a_document(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    assert firestore_host.startswith(f"{HOST}:")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    client = firestore.Client(project="eventpulse-local")
    devices = client.collection("devices")
    devices.document("pi-001").set({"name": "field sensor", "enrolled": True, "readings": 3})

    snapshot = devices.document("pi-001").get()
    assert snapshot.exists
    assert snapshot.to_dict() == {"name": "field sensor", "enrolled": True, "readings": 3}
    assert [d.id for d in devices.where(filter=FieldFilter("enrolled", "==", True)).stream()] == ["pi-001"]
    client.close()

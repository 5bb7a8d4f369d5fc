"""The device routes of /api/edge again, with the Firestore registry (on the emulator) behind them.

The tests are those of ``test_edge_api.py``, collected here a second time: only ``services`` differs.
"""

from __future__ import annotations

import dataclasses
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from eventpulse.adapters.firestore.devices import FirestoreDeviceRegistry
from tests.conftest import REPO_ROOT
from tests.integration.test_edge_api import (  # noqa: F401  (collected again, on this module's fixtures)
    client,
    test_a_device_token_opens_device_routes_and_records_health,
    test_a_revoked_device_is_refused_on_device_routes_and_at_enrolment,
    test_device_routes_answer_503_without_a_pepper,
    test_enrol_then_rotate_with_the_same_fingerprint_and_refuse_another,
    test_enrolment_is_rate_limited_per_address,
)

sys.path.insert(0, str(REPO_ROOT / "emulators"))
from firestore import FirestoreEmulator  # noqa: E402  (emulators/ is not a package)

sys.path.remove(str(REPO_ROOT / "emulators"))


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    with FirestoreEmulator() as emulator:
        yield emulator.host


@pytest.fixture
def services(services: Any, firestore_host: str) -> Iterator[Any]:
    """The real services, their registry swapped for Firestore under a collection prefix of its own."""
    settings = dataclasses.replace(
        services.settings,
        device_registry="firestore",
        firestore_emulator_host=firestore_host,
        firestore_collection_prefix=f"e{uuid.uuid4().hex[:12]}_",
    )
    services.devices = FirestoreDeviceRegistry.from_settings(settings)
    services.settings = settings
    yield services


def test_the_routes_write_to_the_firestore_registry(client: Any, services: Any) -> None:  # noqa: F811
    from tests.integration.test_edge_api import enroll

    assert isinstance(services.devices, FirestoreDeviceRegistry)
    assert enroll(client, "pump-fs").status_code == 201
    docs = services.devices._col("devices").stream()
    assert [d.to_dict()["device_id"] for d in docs] == ["pump-fs"], "the device is in Firestore"

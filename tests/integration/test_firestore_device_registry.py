"""What only the Firestore registry has: its wiring from settings, reachability, ids that are not paths."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventpulse.adapters.firestore.devices import FirestoreDeviceRegistry
from eventpulse.adapters.firestore.documents import doc_id
from eventpulse.bootstrap import build_services
from eventpulse.ports.devices import AlertFilter, Device
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "emulators"))
from firestore import FirestoreEmulator, free_port  # noqa: E402  (emulators/ is not a package)

sys.path.remove(str(REPO_ROOT / "emulators"))

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    with FirestoreEmulator() as emulator:
        yield emulator.host


def firestore_settings(settings: Any, host: str, prefix: str) -> Any:
    return dataclasses.replace(
        settings,
        device_registry="firestore",
        firestore_emulator_host=host,
        firestore_collection_prefix=prefix,
    )


def test_services_built_with_device_registry_firestore_use_the_emulator(
    settings: Any, firestore_host: str
) -> None:
    services = build_services(firestore_settings(settings, firestore_host, "wired_"))
    try:
        assert isinstance(services.devices, FirestoreDeviceRegistry)
        assert services.devices.is_reachable()
        device = Device(
            device_id="pi/../001", status="active", created_at=T0, created_by="enroll",
            token_hash="h" * 64, token_rotated_at=T0,
        )  # fmt: skip
        assert services.devices.create(device), "an id that is not a valid document path still works"
        stored = services.devices.get("pi/../001")
        assert stored is not None and stored.device_id == "pi/../001"
    finally:
        services.close()


def test_a_registry_whose_emulator_is_down_is_not_reachable(settings: Any) -> None:
    registry = FirestoreDeviceRegistry.from_settings(
        firestore_settings(settings, f"127.0.0.1:{free_port()}", "down_")
    )
    try:
        assert registry.is_reachable() is False
    finally:
        registry.close()


def test_an_open_alert_claimed_by_a_writer_that_died_is_taken_over(
    settings: Any, firestore_host: str
) -> None:
    registry = FirestoreDeviceRegistry.from_settings(firestore_settings(settings, firestore_host, "adopt_"))
    try:
        # What a raiser killed between its two writes leaves: the key's claim, no alert.
        orphan = "0b0e6a6e-7d43-4c4e-9a51-8d1f8c3a6f00"
        key = doc_id("pi-001", "threshold", "temperature")
        registry._col("device_alert_open").document(key).create({"alert_id": orphan, "device_id": "pi-001"})
        raised = registry.raise_alert(
            device_id="pi-001", kind="threshold", sensor="temperature", level="warning", message="41 C",
            value=41.0, limit=40.0, at=T0,
        )  # fmt: skip
        assert raised.alert_id == orphan and raised.occurrences == 1
        again = registry.raise_alert(
            device_id="pi-001", kind="threshold", sensor="temperature", level="critical", message="55 C",
            value=55.0, limit=50.0, at=T0,
        )  # fmt: skip
        assert again.alert_id == orphan and again.occurrences == 2
    finally:
        registry.close()


def test_an_alert_lock_left_by_a_raiser_that_died_is_taken_over_once_expired(
    settings: Any, firestore_host: str
) -> None:
    registry = FirestoreDeviceRegistry.from_settings(firestore_settings(settings, firestore_host, "lock_"))
    try:
        # What a raiser killed inside its lock leaves: the lock document, expired.
        first = open_alert_with_lock(registry, nonce="dead-holder", expires_in=timedelta(seconds=-1))
        locks = registry._col("device_alert_locks")
        again = registry.raise_alert(
            device_id="pi-001", kind="threshold", sensor="temperature", level="critical", message="55 C",
            value=55.0, limit=50.0, at=T0 + timedelta(minutes=1),
        )  # fmt: skip
        assert again.alert_id == first.alert_id and again.occurrences == 2
        assert again.last_at == T0 + timedelta(minutes=1)
        assert not locks.document(first.alert_id).get().exists, "the taker released the lock it took"
        assert registry._col("device_alert_lock_takeovers").document("dead-holder").get().exists
    finally:
        registry.close()


def test_an_alert_lock_still_held_makes_a_raiser_wait_not_write(settings: Any, firestore_host: str) -> None:
    registry = FirestoreDeviceRegistry.from_settings(firestore_settings(settings, firestore_host, "held_"))
    try:
        first = open_alert_with_lock(registry, nonce="live-holder", expires_in=timedelta(seconds=30))
        locks = registry._col("device_alert_locks")
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (
                registry.raise_alert(
                    device_id="pi-001", kind="threshold", sensor="temperature", level="critical",
                    message="55 C", value=55.0, limit=50.0, at=T0 + timedelta(minutes=1),
                ),
                done.set(),
            )
        )  # fmt: skip
        worker.start()
        time.sleep(0.5)
        assert not done.is_set(), "a raiser wrote while another held the alert's lock"
        assert occurrences(registry) == [1]
        locks.document(first.alert_id).delete()  # the holder lets go
        worker.join(timeout=10)
        assert done.is_set()
        assert occurrences(registry) == [2]
    finally:
        registry.close()


def occurrences(registry: FirestoreDeviceRegistry) -> list[int]:
    return [a.occurrences for a in registry.alerts(AlertFilter(device_id="pi-001"), limit=10).items]


def open_alert_with_lock(registry: FirestoreDeviceRegistry, *, nonce: str, expires_in: timedelta) -> Any:
    """An open alert of pi-001 whose lock document another holder (``nonce``) has."""
    alert = registry.raise_alert(
        device_id="pi-001", kind="threshold", sensor="temperature", level="warning", message="41 C",
        value=41.0, limit=40.0, at=T0,
    )  # fmt: skip
    registry._col("device_alert_locks").document(alert.alert_id).create(
        {"nonce": nonce, "expires_at": datetime.now(UTC) + expires_in}
    )
    return alert

"""The device-registry port suite: every adapter (Postgres, and Firestore on the npm emulator)."""

from __future__ import annotations

import dataclasses
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventpulse.bootstrap import build_device_registry
from eventpulse.devices.tokens import fingerprint_hash, token_hash
from eventpulse.ports.devices import (
    AlertFilter,
    Command,
    CommandFilter,
    Device,
    DeviceFilter,
    DeviceRegistry,
    Health,
    MediaObject,
    Threshold,
)
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "emulators"))
from firestore import FirestoreEmulator  # noqa: E402  (emulators/ is not a package)

sys.path.remove(str(REPO_ROOT / "emulators"))

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    """One emulator for the module; it fails (never skips) with how to get node and npm."""
    with FirestoreEmulator() as emulator:
        yield emulator.host


@pytest.fixture(params=["postgres", "firestore"])
def registry(request: pytest.FixtureRequest, settings: Any) -> Iterator[DeviceRegistry]:
    """A new registry adapter proves itself by joining these parameters and passing this suite."""
    if request.param == "postgres":
        yield request.getfixturevalue("services").devices  # `services` empties every table per test
        return
    isolated = dataclasses.replace(
        settings,
        device_registry="firestore",
        firestore_emulator_host=request.getfixturevalue("firestore_host"),
        firestore_collection_prefix=f"t{uuid.uuid4().hex[:12]}_",  # a fresh registry per test
    )
    registry = build_device_registry(isolated, store=None)  # type: ignore[arg-type]  # firestore needs none
    yield registry
    registry.close()


def new_device(device_id: str, **changes: Any) -> Device:
    values: dict[str, Any] = {
        "device_id": device_id,
        "status": "active",
        "created_at": T0,
        "created_by": "enroll",
        "token_hash": token_hash("pepper", f"token-{device_id}"),
        "token_rotated_at": T0,
        "fingerprint_hash": fingerprint_hash("pepper", f"fp-{device_id}"),
    }
    values.update(changes)
    return Device(**values)


def new_command(device_id: str, *, at: datetime, ttl: timedelta = timedelta(hours=1)) -> Command:
    return Command(
        command_id=str(uuid.uuid4()),
        device_id=device_id,
        kind="set_sampling_interval",
        params={"seconds": 30},
        status="queued",
        created_by="token:admin",
        created_at=at,
        expires_at=at + ttl,
    )


def test_create_is_create_only_and_reads_back_every_field(registry: DeviceRegistry) -> None:
    device = new_device("pi-001", label="north field", group="north", datasets=("edge_telemetry",))
    assert registry.create(device) is True
    assert registry.create(new_device("pi-001", label="impostor")) is False
    stored = registry.get("pi-001")
    assert stored is not None
    assert stored.label == "north field" and stored.group == "north"
    assert stored.datasets == ("edge_telemetry",)
    assert stored.token_hash == device.token_hash and stored.fingerprint_hash == device.fingerprint_hash
    assert stored.created_at == T0 and stored.last_seen_at is None
    assert registry.get("pi-404") is None


def test_find_by_token_hash(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    registry.create(new_device("pi-002"))
    found = registry.find_by_token_hash(token_hash("pepper", "token-pi-002"))
    assert found is not None and found.device_id == "pi-002"
    assert registry.find_by_token_hash(token_hash("pepper", "nobody")) is None


def test_pages_filter_and_follow_the_cursor(registry: DeviceRegistry) -> None:
    for n in range(7):
        registry.create(new_device(f"pi-{n:03d}", group="north" if n % 2 else "south", label=f"Unit {n}"))
    registry.update("pi-003", at=T0, status="revoked")
    registry.touch("pi-001", at=T0)
    seen: list[str] = []
    cursor = None
    while True:
        page = registry.page(DeviceFilter(), limit=3, cursor=cursor)
        seen += [d.device_id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"pi-{n:03d}" for n in range(7)]
    north = registry.page(DeviceFilter(group="north"), limit=10).items
    assert [d.device_id for d in north] == ["pi-001", "pi-003", "pi-005"]
    assert [d.device_id for d in registry.page(DeviceFilter(status="revoked"), limit=10).items] == ["pi-003"]
    assert [d.device_id for d in registry.page(DeviceFilter(search="UNIT 4"), limit=10).items] == ["pi-004"]
    assert [d.device_id for d in registry.page(DeviceFilter(search="pi-00%"), limit=10).items] == []
    online = registry.page(DeviceFilter(seen_after=T0 - timedelta(minutes=5)), limit=10).items
    assert [d.device_id for d in online] == ["pi-001"]
    offline = registry.page(DeviceFilter(seen_before=T0 - timedelta(minutes=5)), limit=10).items
    assert "pi-001" not in [d.device_id for d in offline] and len(offline) == 6
    with pytest.raises(ValueError, match="cursor"):
        registry.page(DeviceFilter(), limit=3, cursor="not-a-cursor")


def test_set_token_is_compare_and_set_and_refused_for_revoked(registry: DeviceRegistry) -> None:
    old = token_hash("pepper", "token-pi-001")
    registry.create(new_device("pi-001", fingerprint_hash=None))
    new = token_hash("pepper", "rotated")
    bound = fingerprint_hash("pepper", "serial")
    later = T0 + timedelta(minutes=1)
    assert registry.set_token(
        "pi-001", token_hash=new, rotated_at=later, expected_token_hash=old, fingerprint_hash=bound
    )
    assert not registry.set_token("pi-001", token_hash="x" * 64, rotated_at=later, expected_token_hash=old)
    stored = registry.get("pi-001")
    assert stored is not None and stored.token_hash == new and stored.token_rotated_at == later
    assert stored.fingerprint_hash == bound
    registry.update("pi-001", at=later, status="revoked", revoked_at=later, revoked_by="token:admin")
    assert not registry.set_token("pi-001", token_hash="y" * 64, rotated_at=later)
    assert not registry.set_token("pi-404", token_hash="y" * 64, rotated_at=later)


def test_update_changes_fields_and_refuses_unknown_ones(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    at = T0 + timedelta(hours=1)
    changed = registry.update(
        "pi-001",
        at=at,
        label="moved",
        group="east",
        datasets=("edge_telemetry", "parcels"),
        cadence_seconds=60,
    )
    assert changed is not None and changed.label == "moved" and changed.group == "east"
    assert changed.datasets == ("edge_telemetry", "parcels") and changed.cadence_seconds == 60
    assert changed.updated_at == at
    assert registry.update("pi-404", at=at, label="x") is None
    with pytest.raises(TypeError):
        registry.update("pi-001", at=at, token_hash="forged")


def test_touch_never_moves_back_and_keeps_health(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    health = Health(battery_v=3.9, rssi_dbm=-71, firmware_version="pi/1.2.3", status="ok", reported_at=T0)
    registry.touch("pi-001", at=T0 + timedelta(minutes=2), health=health)
    registry.touch("pi-001", at=T0 + timedelta(minutes=1))
    stored = registry.get("pi-001")
    assert stored is not None and stored.last_seen_at == T0 + timedelta(minutes=2)
    assert stored.health == health, "a contact that is not a heartbeat keeps the last health"


def test_thresholds_per_scope_are_replaced_whole(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    fleet = [Threshold("temperature", "above", 40.0, 50.0), Threshold("battery_v", "below", 3.4, 3.2)]
    registry.set_thresholds(None, fleet)
    registry.set_thresholds("pi-001", [Threshold("temperature", "above", 30.0, None)])
    assert registry.thresholds(None) == sorted(fleet, key=lambda t: t.sensor)
    assert registry.thresholds("pi-001") == [Threshold("temperature", "above", 30.0, None)]
    registry.set_thresholds("pi-001", [])
    assert registry.thresholds("pi-001") == [] and len(registry.thresholds(None)) == 2


def test_one_open_alert_per_key_updated_then_resolved(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    first = registry.raise_alert(
        device_id="pi-001", kind="threshold", sensor="temperature", level="warning",
        message="41 C over 40", value=41.0, limit=40.0, at=T0,
    )  # fmt: skip
    again = registry.raise_alert(
        device_id="pi-001", kind="threshold", sensor="temperature", level="critical",
        message="55 C over 50", value=55.0, limit=50.0, at=T0 + timedelta(minutes=1),
    )  # fmt: skip
    assert again.alert_id == first.alert_id and again.occurrences == 2 and again.level == "critical"
    assert again.opened_at == T0 and again.last_at == T0 + timedelta(minutes=1)
    assert registry.resolve_alerts(device_id="pi-001", kind="threshold", sensor="temperature", at=T0) == 1
    reopened = registry.raise_alert(
        device_id="pi-001", kind="threshold", sensor="temperature", level="warning",
        message="42 C", value=42.0, limit=40.0, at=T0 + timedelta(minutes=5),
    )  # fmt: skip
    assert reopened.alert_id != first.alert_id
    open_ = registry.alerts(AlertFilter(device_id="pi-001", open_only=True), limit=10).items
    assert [a.alert_id for a in open_] == [reopened.alert_id]
    every = registry.alerts(AlertFilter(device_id="pi-001"), limit=10).items
    assert [a.alert_id for a in every] == [reopened.alert_id, first.alert_id], "newest opened first"


def test_alerts_filter_page_and_acknowledge_once(registry: DeviceRegistry) -> None:
    for n in range(3):
        registry.create(new_device(f"pi-{n}"))
        registry.raise_alert(
            device_id=f"pi-{n}", kind="silent", sensor="", level="warning", message="silent",
            value=None, limit=None, at=T0 + timedelta(minutes=n),
        )  # fmt: skip
    first_page = registry.alerts(AlertFilter(kind="silent"), limit=2)
    assert [a.device_id for a in first_page.items] == ["pi-2", "pi-1"]
    second = registry.alerts(AlertFilter(kind="silent"), limit=2, cursor=first_page.next_cursor)
    assert [a.device_id for a in second.items] == ["pi-0"] and second.next_cursor is None
    target = first_page.items[0].alert_id
    acked = registry.acknowledge_alert(target, actor="token:ops", at=T0)
    assert acked is not None and acked.acknowledged_by == "token:ops"
    again = registry.acknowledge_alert(target, actor="token:other", at=T0 + timedelta(hours=1))
    assert again is not None and again.acknowledged_by == "token:ops" and again.acknowledged_at == T0
    assert registry.acknowledge_alert(str(uuid.uuid4()), actor="x", at=T0) is None
    assert registry.acknowledge_alert("not-a-uuid", actor="x", at=T0) is None
    unacked = registry.alerts(AlertFilter(unacknowledged_only=True), limit=10).items
    assert target not in [a.alert_id for a in unacked] and len(unacked) == 2
    assert registry.alerts(AlertFilter(level="critical"), limit=10).items == []


def test_commands_are_delivered_until_acknowledged_and_expire(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    registry.create(new_device("pi-002"))
    first = new_command("pi-001", at=T0)
    second = new_command("pi-001", at=T0 + timedelta(seconds=1))
    stale = new_command("pi-001", at=T0 - timedelta(hours=2))  # expired an hour ago
    other = new_command("pi-002", at=T0)
    for command in (first, second, stale, other):
        registry.queue_command(command)
    now = T0 + timedelta(minutes=1)
    delivered = registry.deliver_commands("pi-001", now=now, limit=10)
    assert [c.command_id for c in delivered] == [first.command_id, second.command_id]
    assert all(c.status == "delivered" and c.delivered_at == now for c in delivered)
    again = registry.deliver_commands("pi-001", now=now + timedelta(minutes=1), limit=10)
    assert [c.command_id for c in again] == [first.command_id, second.command_id], "not acked: again"
    assert again[0].delivered_at == now, "the first delivery time is kept"
    done = registry.finish_command(
        first.command_id, expected=("delivered",), status="succeeded", at=now, result={"output": "ok"}
    )
    assert done is not None and done.status == "succeeded" and done.result == {"output": "ok"}
    assert registry.finish_command(first.command_id, expected=("delivered",), status="failed", at=now) is None
    remaining = registry.deliver_commands("pi-001", now=now, limit=10)
    assert [c.command_id for c in remaining] == [second.command_id]
    assert registry.expire_commands(now=now) == 1  # the stale one (other and second are not due)
    stored = registry.get_command(stale.command_id)
    assert stored is not None and stored.status == "expired" and stored.result is not None
    assert registry.get_command("missing") is None
    listed = registry.commands(CommandFilter(device_id="pi-001"), limit=2)
    assert [c.command_id for c in listed.items] == [second.command_id, first.command_id], "newest first"
    rest = registry.commands(CommandFilter(device_id="pi-001"), limit=2, cursor=listed.next_cursor)
    assert [c.command_id for c in rest.items] == [stale.command_id] and rest.next_cursor is None
    assert [c.command_id for c in registry.commands(CommandFilter(status="queued"), limit=9).items] == [
        other.command_id
    ]


def test_media_records_are_idempotent_by_key_and_listed_newest_first(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    photos = [
        MediaObject(
            media_id=str(uuid.uuid4()),
            device_id="pi-001",
            key=f"media/pi-001/{n}.jpg",
            content_type="image/jpeg",
            size_bytes=1000 + n,
            created_at=T0 + timedelta(minutes=n),
        )
        for n in range(3)
    ]
    assert all(registry.add_media(p) for p in photos)
    duplicate = MediaObject(
        media_id=str(uuid.uuid4()), device_id="pi-001", key=photos[0].key, content_type="image/jpeg",
        size_bytes=1, created_at=T0,
    )  # fmt: skip
    assert registry.add_media(duplicate) is False
    page = registry.media("pi-001", limit=2)
    assert [m.key for m in page.items] == [photos[2].key, photos[1].key]
    rest = registry.media(None, limit=2, cursor=page.next_cursor)
    assert [m.key for m in rest.items] == [photos[0].key]


def test_delete_removes_the_device_and_everything_of_it(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    registry.create(new_device("pi-002"))
    registry.set_thresholds("pi-001", [Threshold("temperature", "above", 30.0, None)])
    registry.raise_alert(
        device_id="pi-001", kind="silent", sensor="", level="warning", message="m", value=None,
        limit=None, at=T0,
    )  # fmt: skip
    registry.queue_command(new_command("pi-001", at=T0))
    assert registry.delete("pi-001") is True
    assert registry.delete("pi-001") is False
    assert registry.get("pi-001") is None and registry.thresholds("pi-001") == []
    assert registry.alerts(AlertFilter(device_id="pi-001"), limit=10).items == []
    assert registry.commands(CommandFilter(device_id="pi-001"), limit=10).items == []
    assert registry.get("pi-002") is not None
    assert registry.is_reachable()


# --- races and filtered paging: where adapters without one shared transaction can differ ----------------


def race(n: int, work: Any) -> list[Any]:
    """Run ``work(i)`` on ``n`` threads released together; their results in order."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_raises_keep_one_open_alert_and_count_every_occurrence(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    raised = race(
        8,
        lambda i: registry.raise_alert(
            device_id="pi-001", kind="threshold", sensor="temperature", level="warning",
            message=f"reading {i}", value=41.0 + i, limit=40.0, at=T0 + timedelta(seconds=i),
        ),
    )  # fmt: skip
    assert len({a.alert_id for a in raised}) == 1, "every raiser updated the same open alert"
    open_ = registry.alerts(AlertFilter(device_id="pi-001", open_only=True), limit=10).items
    assert len(open_) == 1 and open_[0].occurrences == 8
    assert open_[0].last_at == T0 + timedelta(seconds=7) and open_[0].opened_at >= T0
    closed = race(4, lambda i: registry.resolve_alerts(
        device_id="pi-001", kind="threshold", sensor="temperature", at=T0 + timedelta(minutes=1)
    ))  # fmt: skip
    assert sum(closed) == 1, "one resolver closes it, the others find nothing open"


def test_racing_raises_on_an_open_alert_never_move_last_at_back(registry: DeviceRegistry) -> None:
    """Many raisers on an alert that is already open, newest first: the newest time always wins.

    Raisers that start later carry older times, so a read-then-write of ``last_at`` loses the newest
    whenever an older raiser writes after it; 40 occurrences also cross the Firestore adapter's
    trimming of its occurrence times (``KEEP_OCCURRENCES``).
    """
    registry.create(new_device("pi-001"))
    opened = registry.raise_alert(
        device_id="pi-001", kind="threshold", sensor="temperature", level="warning",
        message="first", value=41.0, limit=40.0, at=T0,
    )  # fmt: skip
    newest = T0 + timedelta(minutes=10)
    for first in (0, 20):
        race(
            20,
            lambda i, first=first: registry.raise_alert(
                device_id="pi-001", kind="threshold", sensor="temperature", level="warning",
                message=f"reading {i}", value=42.0, limit=40.0, at=newest - timedelta(seconds=first + i),
            ),
        )  # fmt: skip
    open_ = registry.alerts(AlertFilter(device_id="pi-001", open_only=True), limit=10).items
    assert [a.alert_id for a in open_] == [opened.alert_id]
    assert open_[0].occurrences == 41
    assert open_[0].last_at == newest, "an older occurrence's time overwrote the newest"
    assert open_[0].opened_at == T0


def test_concurrent_rotations_from_one_token_let_exactly_one_win(registry: DeviceRegistry) -> None:
    old = token_hash("pepper", "token-pi-001")
    registry.create(new_device("pi-001"))
    won = race(
        6,
        lambda i: registry.set_token(
            "pi-001", token_hash=token_hash("pepper", f"new-{i}"), rotated_at=T0 + timedelta(seconds=i),
            expected_token_hash=old,
        ),
    )  # fmt: skip
    assert won.count(True) == 1
    winner = won.index(True)
    stored = registry.get("pi-001")
    assert stored is not None and stored.token_hash == token_hash("pepper", f"new-{winner}")
    assert registry.find_by_token_hash(old) is None


def test_concurrent_finishes_and_acknowledgements_have_one_winner(registry: DeviceRegistry) -> None:
    registry.create(new_device("pi-001"))
    command = new_command("pi-001", at=T0)
    registry.queue_command(command)
    registry.deliver_commands("pi-001", now=T0, limit=10)
    statuses = ("succeeded", "failed", "cancelled", "succeeded", "failed", "cancelled")
    ended = race(
        len(statuses),
        lambda i: registry.finish_command(
            command.command_id, expected=("delivered",), status=statuses[i], at=T0, result={"n": i}
        ),
    )
    winners = [i for i, c in enumerate(ended) if c is not None]
    assert len(winners) == 1
    stored = registry.get_command(command.command_id)
    assert stored is not None and stored.status == statuses[winners[0]] and stored.result == {"n": winners[0]}
    assert registry.deliver_commands("pi-001", now=T0, limit=10) == [], "an ended command is not handed out"
    alert = registry.raise_alert(
        device_id="pi-001", kind="silent", sensor="", level="warning", message="m", value=None,
        limit=None, at=T0,
    )  # fmt: skip
    acked = race(5, lambda i: registry.acknowledge_alert(alert.alert_id, actor=f"token:op{i}", at=T0))
    assert len({a.acknowledged_by for a in acked}) == 1, "every caller sees the first actor"
    stored_alert = registry.alerts(AlertFilter(device_id="pi-001"), limit=1).items[0]
    assert stored_alert.acknowledged_by == acked[0].acknowledged_by


def test_filtered_pages_follow_the_cursor_without_gaps_or_repeats(registry: DeviceRegistry) -> None:
    for n in range(9):
        registry.create(new_device(f"pi-{n:03d}", group="north" if n % 3 == 0 else "south"))
        if n % 2:
            registry.touch(f"pi-{n:03d}", at=T0)
        registry.raise_alert(
            device_id=f"pi-{n:03d}", kind="silent", sensor="", level="critical" if n % 3 else "warning",
            message="m", value=None, limit=None, at=T0 + timedelta(minutes=n),
        )  # fmt: skip

    def every(fetch: Any) -> list[Any]:
        items: list[Any] = []
        cursor = None
        while True:
            page = fetch(cursor)
            assert len(page.items) <= 2
            items += page.items
            if page.next_cursor is None:
                return items
            cursor = page.next_cursor

    north = every(lambda c: registry.page(DeviceFilter(group="north"), limit=2, cursor=c))
    assert [d.device_id for d in north] == ["pi-000", "pi-003", "pi-006"]
    never = every(
        lambda c: registry.page(DeviceFilter(seen_before=T0 - timedelta(hours=1)), limit=2, cursor=c)
    )
    assert [d.device_id for d in never] == ["pi-000", "pi-002", "pi-004", "pi-006", "pi-008"], "never seen"
    critical = every(lambda c: registry.alerts(AlertFilter(level="critical"), limit=2, cursor=c))
    assert [a.device_id for a in critical] == ["pi-008", "pi-007", "pi-005", "pi-004", "pi-002", "pi-001"]
    assert (
        registry.alerts(AlertFilter(level="warning", device_id="pi-003"), limit=2).items[0].device_id
        == "pi-003"
    )

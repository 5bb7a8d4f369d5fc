"""The SQLite spool, on a real file: durability across reopen, byte-identical batches, the disk bound,
and a writer SIGKILLed mid-append that leaves a consistent spool keeping every committed event."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from eventpulse_edge.spool import Spool, encode_event

EDGE_SRC = Path(__file__).resolve().parents[2] / "edge_client"


def _event(n: int, event_type: str = "reading", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=n + 1, version=4)),
        "device_id": "pi-1",
        "event_type": event_type,
        "ts": f"2026-12-02T10:00:{n % 60:02d}.000",
    }
    if event_type == "reading":
        event.update(sensor="temperature", value=20.0 + n / 10, units="C")
    event.update(extra)
    return event


def test_wal_and_full_sync_are_set_on_the_file(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_events_and_batches_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        for n in range(5):
            assert spool.append(_event(n))
        batch = spool.cut_batch(3)
        assert batch is not None
    with Spool(path) as reopened:
        assert reopened.depth() == 5
        pending = reopened.pending()
        assert [b.batch_id for b in pending] == [batch.batch_id]
        assert pending[0].payload == batch.payload
        assert reopened.event_ids() == {_event(n)["event_id"] for n in range(5)}


def test_a_repeated_event_id_is_stored_once(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        assert spool.append(_event(1)) is True
        assert spool.append(_event(1)) is False
        assert spool.depth() == 1


def test_batch_bytes_are_canonical_ndjson_and_fixed_once_cut(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        spool.append(
            {
                "ts": "2026-12-02T10:00:00.000",
                "event_id": "e-1",
                "device_id": "pi-1",
                "event_type": "reading",
                "value": 1.5,
            }
        )
        spool.append(_event(2))
        batch = spool.cut_batch(10)
        assert batch is not None
    lines = batch.payload.decode("utf-8").split("\n")
    assert lines[-1] == ""  # every line ends in a newline
    assert lines[0] == (
        '{"device_id":"pi-1","event_id":"e-1","event_type":"reading","ts":"2026-12-02T10:00:00.000","value":1.5}'
    )
    assert batch.sha256 == hashlib.sha256(batch.payload).hexdigest()
    assert batch.filename == f"{batch.batch_id}.ndjson"
    assert batch.n_events == 2
    # Resending after a restart: same id, same bytes, same digest, however often it is read.
    for _ in range(3):
        with Spool(path) as again:
            (resent,) = again.pending()
            assert (resent.batch_id, resent.payload, resent.sha256) == (
                batch.batch_id,
                batch.payload,
                batch.sha256,
            )


def test_same_events_give_the_same_bytes_in_two_spools(tmp_path: Path) -> None:
    payloads = []
    for name in ("a.db", "b.db"):
        with Spool(tmp_path / name) as spool:
            for n in range(4):
                spool.append(_event(n))
            batch = spool.cut_batch(4)
            assert batch is not None
            payloads.append((batch.batch_id, batch.payload))
    assert payloads[0] == payloads[1]
    assert encode_event({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_batches_are_cut_oldest_first_and_bounded(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        for n in range(7):
            spool.append(_event(n))
        sizes = []
        while (batch := spool.cut_batch(3)) is not None:
            sizes.append(batch.n_events)
        assert sizes == [3, 3, 1]
        first = json.loads(spool.pending()[0].payload.decode().splitlines()[0])
        assert first["event_id"] == _event(0)["event_id"]
        assert spool.cut_batch(3) is None


def test_only_an_acknowledged_batch_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        for n in range(4):
            spool.append(_event(n))
        first = spool.cut_batch(2)
        second = spool.cut_batch(2)
        assert first is not None and second is not None
        spool.mark_attempt(first.batch_id)
        spool.acknowledge(first.batch_id)
        spool.mark_attempt(second.batch_id)  # tried, no answer: kept
    with Spool(path) as reopened:
        (left,) = reopened.pending()
        assert left.batch_id == second.batch_id
        assert left.attempts == 1
        assert reopened.depth() == 2
        assert reopened.counter("sent_batches") == 1


def test_rejected_batch_is_set_aside_and_counted(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        for n in range(3):
            spool.append(_event(n))
        batch = spool.cut_batch(3)
        assert batch is not None
        spool.reject(batch.batch_id)
        assert spool.pending() == []
        assert spool.counter("rejected_events") == 3


def test_at_the_bound_oldest_readings_go_first_then_heartbeats_and_drops_are_counted(tmp_path: Path) -> None:
    size = len(encode_event(_event(0))) + 1
    with Spool(tmp_path / "spool.db", max_bytes=size * 10) as spool:
        spool.append(_event(0, "heartbeat"))  # smaller than a reading
        for n in range(1, 30):
            spool.append(_event(n))
        assert spool.used_bytes() <= size * 10
        ids = spool.event_ids()
        assert _event(0, "heartbeat")["event_id"] in ids  # the heartbeat outlived older readings
        assert _event(29)["event_id"] in ids  # the newest reading is kept
        assert _event(1)["event_id"] not in ids
        assert spool.counter("dropped_events") == 30 - spool.depth()
        assert spool.counter("dropped_events") > 0


def test_at_the_bound_whole_old_batches_go_when_no_loose_event_is_left(tmp_path: Path) -> None:
    size = len(encode_event(_event(0))) + 1
    with Spool(tmp_path / "spool.db", max_bytes=size * 6) as spool:
        for n in range(3):
            spool.append(_event(n))
        spool.cut_batch(3)
        for n in range(3, 6):
            spool.append(_event(n))
        spool.cut_batch(3)
        spool.append(_event(6))
        assert spool.counter("dropped_events") == 3
        assert [b.batch_id for b in spool.pending()] == ["b000000000004-000000000006"]
        assert spool.used_bytes() <= size * 6


def test_the_running_byte_count_matches_the_stored_bytes_through_every_operation(tmp_path: Path) -> None:
    size = len(encode_event(_event(0))) + 1
    with Spool(tmp_path / "spool.db", max_bytes=size * 8) as spool:
        for n in range(12):
            spool.append(_event(n, message="température µ"))  # multi-byte characters count as bytes
            assert spool.counter("stored_bytes") == spool.used_bytes()
            if n % 3 == 2:
                batch = spool.cut_batch(2)
                assert batch is not None
                assert spool.counter("stored_bytes") == spool.used_bytes()
        first, second = spool.pending()[:2]
        spool.acknowledge(first.batch_id)
        spool.reject(second.batch_id)
        spool.acknowledge(first.batch_id)  # a second ack of the same batch changes nothing
        assert spool.counter("stored_bytes") == spool.used_bytes() <= size * 8
        assert spool.counter("sent_batches") == 1


def test_an_event_larger_than_the_whole_spool_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db", max_bytes=100) as spool:
        with pytest.raises(ValueError, match="does not fit"):
            spool.append(_event(1, message="x" * 200))
        assert spool.depth() == 0


_WRITER = textwrap.dedent(
    """
    import sys, uuid
    from pathlib import Path
    from eventpulse_edge.spool import Spool

    spool = Spool(Path(sys.argv[1]))
    n = 0
    while True:
        event_id = str(uuid.uuid4())
        spool.append({"event_id": event_id, "device_id": "pi-1", "event_type": "reading",
                      "sensor": "temperature", "value": n, "units": "C", "ts": "2026-12-02T10:00:00",
                      "message": "x" * (n % 500)})
        print(event_id, flush=True)  # printed only after the append committed
        n += 1
        if n % 37 == 0:
            spool.cut_batch(25)
    """
)


@pytest.mark.parametrize("kill_after", [50, 400, 1500])
def test_sigkill_mid_append_leaves_a_consistent_spool_with_every_committed_event(
    tmp_path: Path, kill_after: int
) -> None:
    path = tmp_path / "spool.db"
    env = {**os.environ, "PYTHONPATH": str(EDGE_SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    committed = []
    for line in child.stdout:
        committed.append(line.strip())
        if len(committed) >= kill_after:
            break
    child.send_signal(signal.SIGKILL)  # mid-way through a later append or cut
    child.wait(timeout=30)
    committed.extend(line.strip() for line in child.stdout if line.strip())
    assert child.returncode == -signal.SIGKILL

    with Spool(path) as spool:
        assert spool.integrity_ok()
        stored = spool.event_ids()
        assert set(committed) <= stored  # nothing committed was lost
        assert len(stored) - len(committed) <= 1  # at most the append whose print the kill beat
        for batch in spool.pending():  # every batch whole: parseable lines, count and digest agree
            lines = batch.payload.decode("utf-8").splitlines()
            assert len(lines) == batch.n_events
            assert all(json.loads(line)["device_id"] == "pi-1" for line in lines)
            assert hashlib.sha256(batch.payload).hexdigest() == batch.sha256
        assert spool.depth() == len(stored)
        assert spool.counter("stored_bytes") == spool.used_bytes()  # the count commits with the rows
        spool.append(_event(10_000))  # and it still takes writes
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        raw.close()


def test_a_spool_file_from_before_signed_urls_gains_the_object_name_column_and_keeps_its_batches(
    tmp_path: Path,
) -> None:
    """A device upgraded in the field opens its old spool: the unsent batch is still there, unminted."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
                             event_type TEXT NOT NULL, body TEXT NOT NULL);
        CREATE TABLE batches (batch_id TEXT PRIMARY KEY, first_seq INTEGER NOT NULL, payload BLOB NOT NULL,
                              sha256 TEXT NOT NULL, n_events INTEGER NOT NULL,
                              attempts INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        """
    )
    db.execute("INSERT INTO batches VALUES ('b000000000001-000000000001', 1, x'7b7d0a', 'abc', 1, 2)")
    db.commit()
    db.close()
    with Spool(path) as spool:
        (batch,) = spool.pending()
        assert (batch.batch_id, batch.payload, batch.attempts, batch.object_name) == (
            "b000000000001-000000000001",
            b"{}\n",
            2,
            None,
        )
        spool.set_object_name(batch.batch_id, "edge-uploads/pi/edge_telemetry/x.ndjson")
    with Spool(path) as spool:  # recorded durably, and the second open does not add the column again
        assert spool.pending()[0].object_name == "edge-uploads/pi/edge_telemetry/x.ndjson"
        spool.set_object_name(batch.batch_id, None)
        assert spool.pending()[0].object_name is None

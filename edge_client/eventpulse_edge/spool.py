"""The durable spool: events wait here, on disk, until the server has accepted them.

SQLite in WAL mode with ``synchronous=FULL``: a committed append survives power loss, and a crash in the
middle of an append leaves the previous state. Events are cut into batches whose NDJSON bytes are stored in
the database, so a batch resent after a timeout or a restart is byte-identical and the server, which
deduplicates identical bytes by sha256, loads it once. A batch is deleted only after the server answered
202 (accepted) or 200 (already had it).

Disk use is bounded by ``max_bytes`` over the stored event and batch bytes. At the bound the oldest unsent
*readings* are dropped first, then the oldest heartbeats, then the oldest cut batches; every dropped event
is counted (``dropped_events``) so the agent can report it. The policy is written in edge_client/README.md.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    n_events INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Batch:
    """One cut batch: the exact bytes to upload and the name they are uploaded under."""

    batch_id: str
    payload: bytes
    sha256: str
    n_events: int
    attempts: int
    object_name: str | None = None
    """signed_url mode: the object minted for these bytes, kept so a restart re-finalizes it."""

    @property
    def filename(self) -> str:
        return f"{self.batch_id}.ndjson"


def encode_event(event: Mapping[str, Any]) -> str:
    """The canonical JSON of one event: sorted keys and no spaces, so the same event is the same bytes."""
    return json.dumps(dict(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ndjson(bodies: list[str]) -> bytes:
    """NDJSON bytes of canonical event bodies, one per line, each line ending in a newline."""
    return "".join(body + "\n" for body in bodies).encode("utf-8")


class Spool:
    """A SQLite spool file. One process owns it (the agent); every method is one transaction."""

    def __init__(self, path: Path, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so each method is exactly one
        # transaction and a crash never leaves half of one.
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(batches)")}
        if "object_name" not in columns:  # a spool file written before signed-URL uploads
            self._db.execute("ALTER TABLE batches ADD COLUMN object_name TEXT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any]) -> bool:
        """Store one event durably; False when its event_id is already spooled (a repeat is harmless)."""
        body = encode_event(event)
        size = len(body.encode("utf-8")) + 1
        if size > self.max_bytes:
            raise ValueError(f"one event of {size} bytes does not fit a spool of {self.max_bytes}")
        with self._transaction():
            if self._db.execute(
                "SELECT 1 FROM events WHERE event_id = ?", (str(event["event_id"]),)
            ).fetchone():
                return False
            self._make_room(size)
            self._db.execute(
                "INSERT INTO events (event_id, event_type, body) VALUES (?, ?, ?)",
                (str(event["event_id"]), str(event.get("event_type", "reading")), body),
            )
            self._bump("stored_bytes", size)
            return True

    def cut_batch(self, max_events: int) -> Batch | None:
        """Move up to max_events of the oldest events into a new batch with fixed bytes; None if empty.

        The batch id comes from the sequence numbers it covers, so it is unique for the life of the spool
        file and says which events it holds.
        """
        with self._transaction():
            rows = self._db.execute(
                "SELECT seq, body FROM events ORDER BY seq LIMIT ?", (max_events,)
            ).fetchall()
            if not rows:
                return None
            payload = ndjson([body for _, body in rows])
            first, last = rows[0][0], rows[-1][0]
            batch_id = f"b{first:012d}-{last:012d}"
            digest = hashlib.sha256(payload).hexdigest()
            self._db.execute(
                "INSERT INTO batches (batch_id, first_seq, payload, sha256, n_events) VALUES (?, ?, ?, ?, ?)",
                (batch_id, first, payload, digest, len(rows)),
            )
            self._db.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (first, last))
            return Batch(batch_id, payload, digest, len(rows), 0)

    def pending(self) -> list[Batch]:
        """Every cut batch not yet accepted by the server, oldest first (after a restart, too)."""
        rows = self._db.execute(
            "SELECT batch_id, payload, sha256, n_events, attempts, object_name "
            "FROM batches ORDER BY first_seq"
        ).fetchall()
        return [Batch(r[0], bytes(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def set_object_name(self, batch_id: str, object_name: str | None) -> None:
        """Record (or clear) the signed-URL object minted for a batch, durably, before its PUT."""
        with self._transaction():
            self._db.execute("UPDATE batches SET object_name = ? WHERE batch_id = ?", (object_name, batch_id))

    def mark_attempt(self, batch_id: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE batches SET attempts = attempts + 1 WHERE batch_id = ?", (batch_id,))

    def acknowledge(self, batch_id: str) -> None:
        """Forget a batch: call only after the server answered 202 or 200 for its bytes."""
        with self._transaction():
            if self._delete_batch(batch_id) is not None:
                self._bump("sent_batches", 1)

    def reject(self, batch_id: str) -> None:
        """Set aside a batch the server refuses for good (a 4xx): delete it, counting its events."""
        with self._transaction():
            n_events = self._delete_batch(batch_id)
            if n_events is not None:
                self._bump("rejected_events", n_events)

    # -- reading --------------------------------------------------------------------------------------

    def depth(self) -> int:
        """Events waiting: unbatched plus those inside unsent batches (what heartbeats report)."""
        loose = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        batched = self._db.execute("SELECT COALESCE(SUM(n_events), 0) FROM batches").fetchone()[0]
        return int(loose) + int(batched)

    def used_bytes(self) -> int:
        """Stored event and batch bytes: the figure the disk bound applies to."""
        loose = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(CAST(body AS BLOB)) + 1), 0) FROM events"
        ).fetchone()[0]
        batched = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM batches").fetchone()[0]
        return int(loose) + int(batched)

    def counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def event_ids(self) -> set[str]:
        """Every spooled event id, loose or batched (for checks and tests; reads whole batches)."""
        ids = {row[0] for row in self._db.execute("SELECT event_id FROM events")}
        for batch in self.pending():
            for line in batch.payload.decode("utf-8").splitlines():
                ids.add(json.loads(line)["event_id"])
        return ids

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # -- internals ------------------------------------------------------------------------------------

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def _delete_batch(self, batch_id: str) -> int | None:
        """Delete one batch, keeping the byte count; its number of events, or None if it was not there."""
        row = self._db.execute(
            "SELECT n_events, LENGTH(payload) FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is None:
            return None
        self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        self._bump("stored_bytes", -int(row[1]))
        return int(row[0])

    def _make_room(self, needed: int) -> None:
        """Drop by the written policy until `needed` more bytes fit: readings, heartbeats, then batches.

        The running ``stored_bytes`` counter (kept in the same transactions as the rows) avoids summing
        the whole spool on every append, which would be slow on a Pi with a full spool.
        """
        excess = self.counter("stored_bytes") + needed - self.max_bytes
        for event_type in ("reading", None):
            while excess > 0:
                where = "WHERE event_type = 'reading'" if event_type else ""
                row = self._db.execute(
                    f"SELECT seq, LENGTH(CAST(body AS BLOB)) + 1 FROM events {where} ORDER BY seq LIMIT 1"
                ).fetchone()
                if row is None:
                    break
                self._db.execute("DELETE FROM events WHERE seq = ?", (row[0],))
                self._bump("dropped_events", 1)
                self._bump("stored_bytes", -int(row[1]))
                excess -= int(row[1])
        while excess > 0:
            row = self._db.execute(
                "SELECT batch_id, LENGTH(payload) FROM batches ORDER BY first_seq LIMIT 1"
            ).fetchone()
            if row is None:
                break
            self._bump("dropped_events", self._delete_batch(row[0]) or 0)
            excess -= int(row[1])


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: one spool operation, all or nothing."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")

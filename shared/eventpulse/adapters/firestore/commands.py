"""Commands on Firestore: a command ends once, through a claim document named after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from eventpulse.adapters.firestore.client import Collections
from eventpulse.adapters.firestore.documents import command_fields, doc_id, scan_page, to_command
from eventpulse.ports.devices import Command, CommandFilter, CommandStatus, DevicePage

EXPIRED = {"reason": "the device did not acknowledge it in time"}


class CommandsOnFirestore(Collections):
    # --- commands ---------------------------------------------------------------------------------

    def queue_command(self, command: Command) -> None:
        self._col("device_commands").document(doc_id(command.command_id)).create(command_fields(command))

    def get_command(self, command_id: str) -> Command | None:
        snap = self._col("device_commands").document(doc_id(command_id)).get()
        return to_command(snap.to_dict() or {}) if snap.exists else None

    def deliver_commands(self, device_id: str, *, now: datetime, limit: int) -> list[Command]:
        col = self._col("device_commands")
        due = [
            c
            for c in (
                to_command(s.to_dict() or {})
                for s in col.where(filter=FieldFilter("device_id", "==", device_id)).stream()
            )
            if c.status in ("queued", "delivered") and c.expires_at > now
        ]
        due = sorted(due, key=lambda c: (c.created_at, c.command_id))[:limit]
        for c in due:
            if c.status == "queued":
                col.document(doc_id(c.command_id)).update({"status": "delivered", "delivered_at": now})
        # A finisher claims its end before writing it: one that won while we wrote wins again here.
        ends = self._client.get_all(
            [self._col("device_command_ends").document(doc_id(c.command_id)) for c in due]
        )
        ended = {s.id: s.to_dict() or {} for s in ends if s.exists}
        handed: list[Command] = []
        for c in due:
            end = ended.get(doc_id(c.command_id))
            if end is not None:
                col.document(doc_id(c.command_id)).update(end)
                continue
            stored = self.get_command(c.command_id)
            if stored is not None:
                handed.append(stored)
        return handed

    def finish_command(
        self,
        command_id: str,
        *,
        expected: Sequence[CommandStatus],
        status: CommandStatus,
        at: datetime,
        result: Mapping[str, Any] | None = None,
    ) -> Command | None:
        current = self.get_command(command_id)
        if current is None or current.status not in expected:
            return None
        end = {"status": status, "finished_at": at, "result": None if result is None else dict(result)}
        if not self._claim(
            "device_command_ends", doc_id(command_id), {**end, "device_id": current.device_id}
        ):
            return None  # another writer ended it first
        ref = self._col("device_commands").document(doc_id(command_id))
        ref.update(end)
        return to_command(ref.get().to_dict() or {})

    def commands(self, where: CommandFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Command]:
        def match(d: Mapping[str, Any]) -> bool:
            return where.status is None or d.get("status") == where.status

        docs, next_cursor = scan_page(
            self._col("device_commands"), key="order_key", descending=True, cursor=cursor, limit=limit,
            match=match, device_id=where.device_id,
        )  # fmt: skip
        return DevicePage([to_command(d) for d in docs], next_cursor)

    def expire_commands(self, *, now: datetime) -> int:
        query = self._col("device_commands").where(
            filter=FieldFilter("status", "in", ["queued", "delivered"])
        )
        due = [c for c in (to_command(s.to_dict() or {}) for s in query.stream()) if c.expires_at <= now]
        expired = 0
        for c in due:
            done = self.finish_command(
                c.command_id, expected=("queued", "delivered"), status="expired", at=now, result=EXPIRED
            )
            expired += done is not None
        return expired

"""The source-object aggregate: which storage object generation became which ingestion.

One row per (bucket, name, generation) that a finalize event or a backfill named: the idempotency key
of event registration, so a redelivered event costs one indexed query and no download.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert

from eventpulse.adapters.postgres.tables import ingestions, source_objects
from eventpulse.ports import SourceObjectSeen, SourceOutcome


class PgSourceObjects:
    def __init__(self, conn: Connection):
        self._conn = conn

    def find(self, *, bucket: str, name: str, generation: int) -> SourceObjectSeen | None:
        """A recorded event or backfill of this generation, or an original ingestion whose raw key is
        ``name`` (an object the API landed itself, whose finalize event follows), in one round trip."""
        recorded = select(
            source_objects.c.outcome, source_objects.c.ingestion_id, source_objects.c.reason
        ).where(
            source_objects.c.bucket == bucket,
            source_objects.c.name == name,
            source_objects.c.generation == generation,
        )
        by_key = select(
            literal("duplicate").label("outcome"),
            ingestions.c.id.label("ingestion_id"),
            literal(None).label("reason"),
        ).where(ingestions.c.raw_key == name, ingestions.c.replay_of.is_(None))
        row = self._conn.execute(union_all(recorded, by_key).limit(1)).first()
        if row is None:
            return None
        return SourceObjectSeen(outcome=row.outcome, ingestion_id=row.ingestion_id, reason=row.reason)

    def record(
        self,
        *,
        bucket: str,
        name: str,
        generation: int,
        outcome: SourceOutcome,
        ingestion_id: uuid.UUID | None = None,
        reason: str | None = None,
        sha256: str | None = None,
    ) -> None:
        self._conn.execute(
            pg_insert(source_objects)
            .values(
                bucket=bucket,
                name=name,
                generation=generation,
                outcome=outcome,
                ingestion_id=ingestion_id,
                reason=reason,
                sha256=sha256,
            )
            .on_conflict_do_nothing(index_elements=["bucket", "name", "generation"])
        )

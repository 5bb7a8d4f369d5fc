"""Run a big curated load and wait to be SIGKILLed (used by test_curated_load.py's crash tests).

Usage: python crash_load_helper.py DATABASE TABLE INGESTION_ID ROWS
Prints ``pid <backend pid>`` then ``merging`` before the merge starts; never commits on its own.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pg8000
import pyarrow as pa

from eventpulse.adapters.postgres.curated import PgCuratedLoad as CuratedLoad
from eventpulse.ports import LineageValues
from eventpulse.schema.model import Column, TableSchema

SCHEMA = TableSchema.of(
    [Column("id", "integer", False), Column("label", "string"), Column("score", "number")]
)
BATCH_ROWS = 50_000


def build_batch(start: int, stop: int, label: str) -> pa.RecordBatch:
    ids = pa.array(range(start, stop), pa.int64())
    return pa.record_batch(
        [
            ids,
            pa.array([f"{label} {i} padding to make the copy last" for i in range(start, stop)]),
            pa.array([i / 7 for i in range(start, stop)]),
            pa.array(range(start + 1, stop + 1), pa.int64()),
        ],
        names=[*SCHEMA.names, "_source_row"],
    )


def main() -> None:
    database, table, ingestion_id, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conn = pg8000.connect(user="postgres", host="127.0.0.1", port=5432, database=database)
    cursor = conn.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    print("pid", cursor.fetchone()[0], flush=True)
    lineage = LineageValues(ingestion_id, "c" * 64, "crash", datetime.now(UTC))
    load = CuratedLoad(conn, table, SCHEMA, ["id"], lineage, keys_verified_unique=True)
    load.start()
    for start in range(0, rows, BATCH_ROWS):
        load.write(build_batch(start, min(rows, start + BATCH_ROWS), "crash"))
    print("merging", flush=True)
    load.finish()
    print("finished", flush=True)
    sys.stdin.read()  # wait for the kill; the transaction is never committed


if __name__ == "__main__":
    main()

"""Curated load: COPY a file's rows into a temporary staging table, then merge them, in ONE transaction.

This is the only module outside ``eventpulse/adapters`` that drives pg8000 directly. It never commits
or rolls back: the caller owns the transaction (a raw pg8000 connection taken from SQLAlchemy with
``conn.connection.driver_connection``), so a crash at any moment leaves the whole file loaded or none
of it. The staging table is ``TEMP ... ON COMMIT DROP``: session-private, never WAL-logged, no indexes,
gone at commit or rollback.

Values travel as CSV written by ``pyarrow.csv`` (not pandas). Arrow quotes every string value and
writes a null as an unquoted empty field, which is exactly how Postgres CSV tells NULL from ``""``.
Timestamps are written as UTC instants with a ``Z`` suffix, so the session TimeZone does not matter.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from eventpulse.curate.ddl import (
    LINEAGE_COLUMN_NAMES,
    LINEAGE_SETTINGS,
    PG_TYPES,
    build_conversion,
    normalize_pg_type,
    quote_ident,
    quote_literal,
)
from eventpulse.errors import BadData, TerminalError
from eventpulse.logs import carry_log_context
from eventpulse.schema.model import LogicalType, TableSchema

log = logging.getLogger(__name__)

SOURCE_ROW = "_source_row"
COPY_CHUNK_ROWS = 16_384
"""Rows per CSV chunk sent as one CopyData message: a few MB, so memory stays bounded per batch."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class LineageValues:
    """The lineage columns every row of one load carries."""

    ingestion_id: str
    source_sha256: str
    contract_version: str
    loaded_at: datetime

    def __post_init__(self) -> None:
        uuid.UUID(self.ingestion_id)  # raises ValueError when it is not a UUID
        if not _SHA256_RE.match(self.source_sha256):
            raise ValueError(f"source_sha256 {self.source_sha256!r} is not 64 lowercase hex digits")
        if self.loaded_at.tzinfo is None:
            raise ValueError("loaded_at must be timezone-aware (UTC)")


@dataclass(frozen=True)
class LoadStats:
    rows_staged: int
    inserted: int
    updated: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class CuratedLoad:
    """One file's load into one curated table: ``start()``, ``write()`` per batch, ``finish()``."""

    def __init__(
        self,
        dbapi_conn: Any,
        table: str,
        schema: TableSchema,
        primary_key: Sequence[str],
        lineage: LineageValues,
        *,
        keys_verified_unique: bool,
    ) -> None:
        _ensure_loadable(schema, primary_key)
        if getattr(dbapi_conn, "autocommit", False):
            raise ValueError("CuratedLoad needs a connection in a transaction, not in autocommit mode")
        self._conn = dbapi_conn
        self._table = table
        self._schema = schema
        self._primary_key = tuple(primary_key)
        self._lineage = lineage
        self._keys_verified_unique = keys_verified_unique
        self._stage = f"eventpulse_stage_{uuid.uuid4().hex[:16]}"
        self._state = "new"
        self._rows_staged = 0
        self._direct = False
        self._target_types: dict[str, str] = {}
        self._copy: _CopyStream | None = None

    def start(self) -> None:
        """Pick the load path and open one COPY that streams every batch in the background.

        Writers of the table are serialised (readers are not blocked) so the empty-table check and
        the upsert cannot race another load of the same dataset. An empty table (or one without a
        key) whose column types match takes the rows straight from COPY, lineage filled from SET
        LOCAL settings; otherwise rows go to a temp staging table and are merged in ``finish()``.
        """
        self._ensure_state("new")
        target = quote_ident(self._table)
        self._execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
        self._target_types = self._fetch_target_types()
        self._direct = self._can_copy_directly()
        log.info(
            "loading %s %s", self._table, "straight into the table" if self._direct else "through staging"
        )
        names = [*self._schema.names, SOURCE_ROW]
        columns = ", ".join(quote_ident(n) for n in names)
        if self._direct:
            self._set_lineage_settings()
            into = target
        else:
            cols = [f"{quote_ident(c.name)} {PG_TYPES[c.type]}" for c in self._schema]
            cols.append(f"{quote_ident(SOURCE_ROW)} bigint NOT NULL")
            into = quote_ident(self._stage)
            self._execute(f"CREATE TEMP TABLE {into} ({', '.join(cols)}) ON COMMIT DROP")
        self._copy = _CopyStream(
            self._conn, f"COPY {into} ({columns}) FROM STDIN WITH (FORMAT csv)", len(names)
        )
        self._state = "started"

    def write(self, batch: pa.RecordBatch) -> None:
        """Queue one batch (columns ``schema.names`` then int64 ``_source_row``) for the COPY.

        Returns once the batch is serialised; Postgres parses it while the caller reads the next one.
        """
        self._ensure_state("started")
        assert self._copy is not None
        try:
            batch = _prepare_batch(batch, self._schema)
            for chunk in _csv_chunks(batch):
                self._copy.send(chunk)
        except BaseException:
            self.abort()  # a half-sent file must not stay open on the connection
            raise
        self._rows_staged += batch.num_rows

    def abort(self) -> None:
        """Stop the COPY after a failure elsewhere; the caller then rolls back."""
        if self._state == "started" and self._copy is not None:
            self._copy.abort()
            self._state = "aborted"

    def finish(self) -> LoadStats:
        """End the COPY and, on the staging path, merge into the curated table; the caller commits."""
        self._ensure_state("started")
        assert self._copy is not None
        copied = self._copy.close()
        if copied != self._rows_staged:
            raise RuntimeError(f"COPY stored {copied} rows of the {self._rows_staged} rows sent")
        if self._direct:
            inserted, updated = self._rows_staged, 0
        else:
            insert = self._build_insert(self._target_types)
            if not self._primary_key or self._is_target_empty():
                inserted, updated = self._execute(insert), 0
            else:
                inserted, updated = self._upsert(insert)
            self._execute(f"DROP TABLE {quote_ident(self._stage)}")
        self._state = "finished"
        return LoadStats(rows_staged=self._rows_staged, inserted=inserted, updated=updated)

    def _can_copy_directly(self) -> bool:
        types_match = all(
            normalize_pg_type(self._target_types.get(c.name, "")) == normalize_pg_type(PG_TYPES[c.type])
            for c in self._schema
        )
        if not types_match or not self._has_lineage_defaults():
            return False
        if not self._primary_key:
            return True
        return self._keys_verified_unique and self._is_target_empty()

    def _has_lineage_defaults(self) -> bool:
        names = ", ".join(quote_literal(n) for n in LINEAGE_SETTINGS)
        sql = (
            "SELECT count(*) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            f"WHERE d.adrelid = CAST({quote_literal(quote_ident(self._table))} AS regclass) "
            f"AND a.attname IN ({names})"
        )
        return int(self._fetch_one(sql)[0]) == len(LINEAGE_SETTINGS)

    def _set_lineage_settings(self) -> None:
        lineage = self._lineage
        values = {
            "_ingestion_id": str(uuid.UUID(lineage.ingestion_id)),
            "_loaded_at": lineage.loaded_at.astimezone(UTC).isoformat(),
            "_source_sha256": lineage.source_sha256,
            "_contract_version": lineage.contract_version,
        }
        for column, setting in LINEAGE_SETTINGS.items():
            self._fetch_one(
                f"SELECT set_config({quote_literal(setting)}, {quote_literal(values[column])}, true)"
            )

    def _upsert(self, insert: str) -> tuple[int, int]:
        keys = set(self._primary_key)
        updates = [n for n in [*self._schema.names, *LINEAGE_COLUMN_NAMES] if n not in keys]
        assignments = ", ".join(f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in updates)
        conflict = ", ".join(quote_ident(k) for k in self._primary_key)
        # xmax is 0 on a freshly inserted row version and non-zero on one written by DO UPDATE.
        sql = (
            f"WITH merged AS ({insert} ON CONFLICT ({conflict}) DO UPDATE SET {assignments} "
            "RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        )
        row = self._fetch_one(sql)
        return int(row[0]), int(row[1])

    def _build_insert(self, target_types: dict[str, str]) -> str:
        missing = [n for n in [*self._schema.names, *LINEAGE_COLUMN_NAMES] if n not in target_types]
        if missing:
            raise TerminalError(
                f"curated table {self._table!r} lacks columns {missing!r}",
                hint="apply plan_table_changes() for this schema before loading",
            )
        lineage = self._lineage
        loaded_at = lineage.loaded_at.astimezone(UTC).isoformat()
        select = [
            build_conversion(f"s.{quote_ident(c.name)}", c.type, target_types[c.name]) for c in self._schema
        ]
        select += [
            f"CAST({quote_literal(str(uuid.UUID(lineage.ingestion_id)))} AS uuid)",
            f"CAST({quote_literal(loaded_at)} AS timestamptz)",
            quote_literal(lineage.source_sha256),
            f"s.{quote_ident(SOURCE_ROW)}",
            quote_literal(lineage.contract_version),
        ]
        columns = [*self._schema.names, "_ingestion_id", "_loaded_at", "_source_sha256", SOURCE_ROW]
        columns.append("_contract_version")
        return (
            f"INSERT INTO {quote_ident(self._table)} ({', '.join(quote_ident(n) for n in columns)}) "
            f"SELECT {', '.join(select)} FROM {self._source_relation()}"
        )

    def _source_relation(self) -> str:
        stage = quote_ident(self._stage)
        if not self._primary_key or self._keys_verified_unique:
            return f"{stage} AS s"
        # Keep the last occurrence of each key in the file, as a sequential upsert would.
        keys = ", ".join(quote_ident(k) for k in self._primary_key)
        return (
            f"(SELECT DISTINCT ON ({keys}) * FROM {stage} "
            f"ORDER BY {keys}, {quote_ident(SOURCE_ROW)} DESC) AS s"
        )

    def _fetch_target_types(self) -> dict[str, str]:
        sql = (
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            f"WHERE attrelid = CAST({quote_literal(quote_ident(self._table))} AS regclass) "
            "AND attnum > 0 AND NOT attisdropped"
        )
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            return {str(name): str(pg_type) for name, pg_type in cursor.fetchall()}
        finally:
            cursor.close()

    def _is_target_empty(self) -> bool:
        return not self._fetch_one(f"SELECT EXISTS (SELECT 1 FROM {quote_ident(self._table)})")[0]

    def _fetch_one(self, sql: str) -> Sequence[Any]:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            row: Sequence[Any] = cursor.fetchone()
            return row
        finally:
            cursor.close()

    def _execute(self, sql: str) -> int:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _ensure_state(self, expected: str) -> None:
        if self._state != expected:
            raise RuntimeError(f"CuratedLoad of {self._table!r} is {self._state!r}, expected {expected!r}")


def _ensure_loadable(schema: TableSchema, primary_key: Sequence[str]) -> None:
    for col in schema:
        quote_ident(col.name)
        if col.name in LINEAGE_COLUMN_NAMES:
            raise ValueError(f"column {col.name!r} clashes with a lineage column")
    for key in primary_key:
        if schema.get(key) is None:
            raise ValueError(f"primary key column {key!r} is not in the schema {schema.names!r}")


_ARROW_TARGETS: dict[LogicalType, pa.DataType] = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": _UTC_MICROS,
    "string": pa.string(),
    "null": pa.string(),
}

# Arrow types a batch may hold for each logical type (anything else is a reader bug, not data).
_ACCEPTED: dict[LogicalType, Callable[[pa.DataType], bool]] = {
    "integer": pa.types.is_integer,
    "number": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
    "boolean": pa.types.is_boolean,
    "date": pa.types.is_date,
    "datetime": pa.types.is_timestamp,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "null": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
}


def _prepare_batch(batch: pa.RecordBatch, schema: TableSchema) -> pa.RecordBatch:
    """Check names and order, cast to the CSV-ready Arrow types, refuse NUL characters in text."""
    expected = [*schema.names, SOURCE_ROW]
    if batch.schema.names != expected:
        raise ValueError(f"batch columns {batch.schema.names!r} differ from the expected {expected!r}")
    arrays = [
        _cast_column(col.name, col.type, array) for col, array in zip(schema, batch.columns[:-1], strict=True)
    ]
    source_row = batch.column(len(schema))
    if not pa.types.is_integer(source_row.type) or source_row.null_count:
        raise ValueError(f"{SOURCE_ROW} must be a non-null integer column, got {source_row.type}")
    arrays.append(source_row.cast(pa.int64()))
    return pa.RecordBatch.from_arrays(arrays, names=expected)


def _cast_column(name: str, logical: LogicalType, array: pa.Array) -> pa.Array:
    if not (pa.types.is_null(array.type) or _ACCEPTED[logical](array.type)):
        raise ValueError(f"column {name!r} is {logical} but the batch holds Arrow type {array.type}")
    if pa.types.is_timestamp(array.type) and array.type.tz is None:
        # Naive timestamps are UTC by contract; attaching the zone changes no stored value.
        array = array.cast(pa.timestamp(array.type.unit, tz="UTC"))
    target = _ARROW_TARGETS[logical]
    try:
        array = array if array.type == target else array.cast(target)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"column {name!r}: cannot load {array.type} as {target}: {exc}") from exc
    if pa.types.is_string(target) and pc.any(pc.match_substring(array, "\x00")).as_py():
        raise BadData(
            f"column {name!r} contains a NUL character, which Postgres text cannot store",
            hint="clean the source file or strip NUL characters in the reader",
        )
    return array


def _csv_chunks(batch: pa.RecordBatch) -> Iterator[bytes]:
    options = pacsv.WriteOptions(include_header=False)
    for offset in range(0, batch.num_rows, COPY_CHUNK_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch.slice(offset, COPY_CHUNK_ROWS), sink, options)
        yield sink.getvalue().to_pybytes()


class _CopyStream:
    """One ``COPY ... FROM STDIN`` running in a background thread, fed CSV chunks through a queue.

    The caller's thread serialises batches while Postgres parses earlier ones (2 cores: Python on
    one, the server on the other). At most ``depth`` chunks wait in memory. The connection is used by
    this thread only until ``close()`` or ``abort()`` returns.
    """

    def __init__(self, conn: Any, sql: str, columns: int, depth: int = 8):
        # pg8000 has no CopyFail: to abort, send a row with too many fields, so the server fails the
        # COPY itself and the connection stays usable for the caller's ROLLBACK.
        self._poison = (",".join(["eventpulse-abort"] * (columns + 2)) + "\n").encode()
        self._slots: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._rowcount = -1
        self._thread = threading.Thread(
            target=carry_log_context(self._run), args=(conn, sql), name="eventpulse-copy", daemon=True
        )
        self._thread.start()

    def _run(self, conn: Any, sql: str) -> None:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, stream=self._chunks())
            self._rowcount = int(cursor.rowcount)
            log.debug("COPY stored %s rows", self._rowcount)
        except BaseException as exc:  # re-raised in the caller's thread by send() or close()
            self._error = exc
        finally:
            cursor.close()

    def _chunks(self) -> Iterator[bytes]:
        while (item := self._slots.get()) is not None:
            if isinstance(item, BaseException):
                yield self._poison
                return
            yield item

    def _offer(self, item: bytes | BaseException | None) -> None:
        while self._thread.is_alive():
            try:
                self._slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def send(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._offer(chunk)
        if self._error is not None:
            raise self._error

    def close(self) -> int:
        self._offer(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._rowcount

    def abort(self) -> None:
        """Make the server fail the COPY (the caller rolls back); the error that causes is expected."""
        self._offer(RuntimeError("load aborted"))
        self._thread.join()

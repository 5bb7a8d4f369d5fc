"""DDL planning for curated tables (pure: builds SQL text, never executes it).

The caller runs the planned statements inside the same transaction as the load, and only when the
plan is not empty: DDL happens when a dataset's schema changes, never on every ingestion.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from eventpulse.schema.model import Column, LogicalType, TableSchema

PG_IDENTIFIER_MAX_BYTES = 63
"""Postgres silently truncates longer identifiers (NAMEDATALEN - 1), so we refuse them instead."""

_DATASET_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TABLE_PREFIX = "curated_"

PG_TYPES: dict[LogicalType, str] = {
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamptz",  # values are UTC instants
    "string": "text",
    "null": "text",  # an all-null column: text accepts anything a later file widens it to
}

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_ingestion_id", "uuid"),
    ("_loaded_at", "timestamptz"),
    ("_source_sha256", "text"),
    ("_source_row", "bigint"),
    ("_contract_version", "text"),
)
"""Columns every curated row carries (all NOT NULL), appended after the data columns."""

LINEAGE_COLUMN_NAMES: frozenset[str] = frozenset(name for name, _ in LINEAGE_COLUMNS)

ROW_HASH_COLUMN = ("_row_hash", "uuid")
"""The content hash of the row as the load that last wrote it wrote it (``curate/row_hash.py``),
appended after the lineage columns; NULL for rows loaded before migration 0012 or of types it does
not cover. A replay skips the rows whose hash the table holds."""
ROW_HASH = ROW_HASH_COLUMN[0]

RESERVED_COLUMNS: tuple[tuple[str, str], ...] = (*LINEAGE_COLUMNS, ROW_HASH_COLUMN)
"""Columns EventPulse writes into every curated table after the data columns, with their types."""
RESERVED_COLUMN_NAMES: frozenset[str] = frozenset(name for name, _ in RESERVED_COLUMNS)
"""A file's column may not take these names."""

ROW_HASH_TRIGGER_FUNCTION_SQL = (
    "CREATE OR REPLACE FUNCTION eventpulse_row_hash_edited() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN NEW.{ROW_HASH} := NULL; RETURN NEW; END $$"
)
"""The trigger function that forgets the row hash of a row changed outside EventPulse (migration 0012)."""


def row_hash_trigger(relation: str) -> str:
    """The trigger of a curated table (``relation``: its quoted name) that clears ``_row_hash`` when
    an UPDATE keeps it as it was.

    A load that rewrites a row writes its new hash with it (the data changed, so the hash did), so
    the trigger's function never runs for EventPulse's own writes: only the ``WHEN`` test is paid, per
    updated row. An UPDATE from elsewhere (SQL by hand) leaves the hash alone, so the trigger clears
    it, and the next replay compares that row column by column instead of skipping it.
    """
    return (
        f"CREATE OR REPLACE TRIGGER eventpulse_row_hash_edited BEFORE UPDATE ON {relation} "
        f"FOR EACH ROW WHEN (NEW.{ROW_HASH} IS NOT NULL AND NEW.{ROW_HASH} = OLD.{ROW_HASH}) "
        "EXECUTE FUNCTION eventpulse_row_hash_edited()"
    )


LINEAGE_SETTINGS: dict[str, str] = {
    "_ingestion_id": "eventpulse.ingestion_id",
    "_loaded_at": "eventpulse.loaded_at",
    "_source_sha256": "eventpulse.source_sha256",
    "_contract_version": "eventpulse.contract_version",
}
"""Transaction settings (SET LOCAL) the per-load lineage columns default to, so a COPY straight into
the curated table needs no lineage bytes per row. current_setting() raises when one is unset: a row
can never be written without its lineage."""


LINEAGE_FUNCTION_TYPES = ("uuid", "timestamptz", "text")
"""The types of the per-load lineage columns, each read from its setting by ``eventpulse_lineage_<type>``."""

LINEAGE_FUNCTIONS_SQL = tuple(
    f"CREATE OR REPLACE FUNCTION eventpulse_lineage_{pg_type}(setting text) RETURNS {pg_type} "
    "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
    "DECLARE value text := current_setting(setting, true); BEGIN "
    "IF value IS NULL OR value = '' THEN RAISE EXCEPTION USING ERRCODE = '22023', "
    "MESSAGE = format('lineage setting %s is not set: curated rows are written by an EventPulse load', "
    "setting); END IF; "
    f"RETURN CAST(value AS {pg_type}); END $$"
    for pg_type in LINEAGE_FUNCTION_TYPES
)
"""The functions the lineage columns default to (created by migration 0011).

They read a transaction setting, which is not immutable; they are declared IMMUTABLE so that the
planner calls them once per statement, when it plans a ``COPY`` into the table (its column defaults
go through constant folding), instead of once per row: a direct COPY of 1M rows otherwise parses the
same uuid and timestamp a million times (measured in docs/BENCHMARKS.md). This is safe because a
default is only planned by the statement that uses it, in the load's transaction after ``SET LOCAL``:
EventPulse's own INSERTs into curated tables name every lineage column, and no prepared statement of
ours relies on these defaults. An unset setting raises, at planning, so a row can never be written
without its lineage; so does an empty one (what a connection keeps after an earlier transaction's
``SET LOCAL``, which ``current_setting`` alone would have returned as '' to the text columns)."""


def lineage_default(column: str, pg_type: str) -> str:
    """The DEFAULT clause of a per-load lineage column ('' for _source_row, which rows carry)."""
    setting = LINEAGE_SETTINGS.get(column)
    if not setting:
        return ""
    if pg_type not in LINEAGE_FUNCTION_TYPES:
        raise ValueError(f"no lineage function reads a {pg_type} setting")
    return f" DEFAULT eventpulse_lineage_{pg_type}({quote_literal(setting)})"


# format_type() spells some types differently from PG_TYPES; used to compare introspected types.
_PG_TYPE_ALIASES = {"timestamp with time zone": "timestamptz"}

# Logical widenings a curated column may go through (anything may also widen to string).
_WIDENINGS: dict[LogicalType, frozenset[LogicalType]] = {
    "integer": frozenset({"number"}),
    "date": frozenset({"datetime"}),
}


def curated_table_name(dataset: str) -> str:
    """Name of a dataset's curated table: ``curated_<dataset>``, shortened with a hash past 63 bytes.

    A dataset name of up to 55 characters maps to ``curated_<dataset>`` unchanged. A longer one keeps its
    first 46 characters and appends ``_`` and the first 8 hex digits of its sha256, so the result is
    exactly 63 characters, stable, and distinct for names that share a long prefix.
    """
    if not _DATASET_RE.match(dataset):
        raise ValueError(f"dataset name {dataset!r} must match {_DATASET_RE.pattern}")
    name = _TABLE_PREFIX + dataset
    if len(name) <= PG_IDENTIFIER_MAX_BYTES:
        return name
    digest = hashlib.sha256(dataset.encode()).hexdigest()[:8]
    keep = PG_IDENTIFIER_MAX_BYTES - len(_TABLE_PREFIX) - 1 - len(digest)
    return f"{_TABLE_PREFIX}{dataset[:keep]}_{digest}"


def quote_ident(name: str) -> str:
    """Quote an identifier for Postgres: always double-quoted, embedded quotes doubled."""
    if not name:
        raise ValueError("an identifier cannot be empty")
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} contains a NUL character, which Postgres cannot store")
    if len(name.encode("utf-8")) > PG_IDENTIFIER_MAX_BYTES:
        raise ValueError(
            f"identifier {name!r} is longer than {PG_IDENTIFIER_MAX_BYTES} bytes; Postgres would truncate it"
        )
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal as ``E'...'``, correct whatever ``standard_conforming_strings`` is."""
    if "\x00" in value:
        raise ValueError("a string literal cannot contain a NUL character")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def normalize_pg_type(pg_type: str) -> str:
    """Map a ``format_type()`` spelling to the spelling used in ``PG_TYPES``."""
    return _PG_TYPE_ALIASES.get(pg_type, pg_type)


def build_conversion(expr: str, source: LogicalType, target_pg_type: str) -> str:
    """SQL converting ``expr`` (of logical type ``source``) to ``target_pg_type``; narrowing raises.

    Text renderings are fixed (ISO 8601, UTC) instead of depending on DateStyle or TimeZone.
    """
    target = normalize_pg_type(target_pg_type)
    source_pg = PG_TYPES[source]
    if target == source_pg:
        return expr
    if source == "null":
        return f"CAST({expr} AS {target})"
    if target == "text":
        if source == "datetime":
            return f"to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        if source == "date":
            return f"to_char({expr}, 'YYYY-MM-DD')"
        return f"CAST({expr} AS text)"
    if source == "date" and target == "timestamptz":
        return f"(CAST({expr} AS timestamp) AT TIME ZONE 'UTC')"
    if source == "integer" and target == "double precision":
        return f"CAST({expr} AS double precision)"
    raise ValueError(f"cannot convert {source} ({source_pg}) to {target}: that would narrow the column")


def is_widening(old: LogicalType, new: LogicalType) -> bool:
    """True when a column of logical type ``old`` may become ``new`` without losing values."""
    if old == new or old == "null" or new == "string":
        return True
    return new in _WIDENINGS.get(old, frozenset())


def plan_table_changes(
    table: str, target: TableSchema, primary_key: Sequence[str], current: TableSchema | None
) -> list[str]:
    """DDL bringing ``table`` from ``current`` (None: absent) to ``target``; [] when nothing changes.

    Args:
        table: the curated table name (one identifier, quoted here).
        target: the schema the next load writes.
        primary_key: key columns (empty: no key, rows are appended).
        current: the table's schema as last planned, or None when the table does not exist yet.

    Returns:
        A CREATE TABLE and the trigger guarding its row hashes (``row_hash_trigger``), or at most one
        ALTER TABLE whose actions share a single table rewrite.

    Columns are never dropped or renamed and NOT NULL is never added to an existing column. A target
    column of type ``null`` keeps the existing column's type. Narrowing raises ``ValueError``.
    """
    _ensure_column_names(target, primary_key)
    if current is None:
        return [_build_create(table, target, primary_key), row_hash_trigger(quote_ident(table))]
    actions = _plan_alter_actions(target, primary_key, current)
    if not actions:
        return []
    return [f"ALTER TABLE {quote_ident(table)} " + ", ".join(actions)]


def build_table_schema(
    target: TableSchema, primary_key: Sequence[str], current: TableSchema | None
) -> TableSchema:
    """The table's schema once ``plan_table_changes(…, target, primary_key, current)`` has run.

    It only grows and widens: every current column stays (nullable once a load leaves it out), in
    place; target columns the table lacks are appended, nullable, as ``ADD COLUMN`` makes them.
    """
    if current is None:
        return target
    columns: list[Column] = []
    for old in current:
        new = target.get(old.name)
        if new is None:
            columns.append(replace(old, nullable=old.nullable or old.name not in primary_key))
            continue
        kind = old.type if new.type == "null" else new.type  # a null target keeps the column's type
        nullable = old.nullable or (new.nullable and old.name not in primary_key)
        columns.append(Column(old.name, kind, nullable))
    columns += [replace(col, nullable=True) for col in target if current.get(col.name) is None]
    return TableSchema.of(columns)


def reconcile_recorded(
    current: TableSchema | None, actual: Mapping[str, str], target: TableSchema
) -> TableSchema | None:
    """The recorded schema plus the target columns the table already has under the planned type.

    ``actual`` is the table's columns as the database has them (name -> ``format_type``). Releases
    before 2026-12 could forget a column in the recorded schema while the table kept it; such a column
    counts as existing (no ADD COLUMN that would fail). One the table has under another type is left
    out, so its ADD COLUMN fails and says the table was changed by hand.
    """
    if current is None:
        return None
    found = [
        replace(col, nullable=True)
        for col in target
        if current.get(col.name) is None
        and normalize_pg_type(actual.get(col.name, "")) == normalize_pg_type(PG_TYPES[col.type])
    ]
    return TableSchema.of([*current, *found]) if found else current


def _ensure_column_names(target: TableSchema, primary_key: Sequence[str]) -> None:
    for col in target:
        quote_ident(col.name)  # raises on empty, NUL or over-long names
        if col.name in RESERVED_COLUMN_NAMES:
            raise ValueError(f"column {col.name!r} clashes with a lineage column; rename it in the source")
    if len(set(primary_key)) != len(primary_key):
        raise ValueError(f"primary key {list(primary_key)!r} repeats a column")
    for key in primary_key:
        key_col = target.get(key)
        if key_col is None:
            raise ValueError(f"primary key column {key!r} is not in the schema {target.names!r}")
        if key_col.type == "null":
            raise ValueError(f"primary key column {key!r} has no values (type null)")


def _build_create(table: str, target: TableSchema, primary_key: Sequence[str]) -> str:
    lines = [f"{quote_ident(c.name)} {PG_TYPES[c.type]}{_not_null(c, primary_key)}" for c in target]
    lines += [
        f"{quote_ident(name)} {pg_type} NOT NULL{lineage_default(name, pg_type)}"
        for name, pg_type in LINEAGE_COLUMNS
    ]
    lines.append(f"{quote_ident(ROW_HASH)} {ROW_HASH_COLUMN[1]}")
    if primary_key:
        lines.append("PRIMARY KEY (" + ", ".join(quote_ident(k) for k in primary_key) + ")")
    return f"CREATE TABLE {quote_ident(table)} (\n  " + ",\n  ".join(lines) + "\n)"


def _not_null(col: Column, primary_key: Sequence[str]) -> str:
    return " NOT NULL" if (not col.nullable or col.name in primary_key) else ""


def _plan_alter_actions(target: TableSchema, primary_key: Sequence[str], current: TableSchema) -> list[str]:
    actions: list[str] = []
    for col in target:
        old = current.get(col.name)
        ident = quote_ident(col.name)
        if old is None:
            # Existing rows have no value, so an added column is nullable whatever the file says.
            actions.append(f"ADD COLUMN {ident} {PG_TYPES[col.type]}")
            continue
        actions += _plan_type_change(ident, old, col)
        if not old.nullable and col.nullable and col.name not in primary_key:
            actions.append(f"ALTER COLUMN {ident} DROP NOT NULL")
    for kept in current:
        # A column the new file lacks gets NULL in new rows, so it cannot stay NOT NULL.
        if target.get(kept.name) is None and not kept.nullable and kept.name not in primary_key:
            actions.append(f"ALTER COLUMN {quote_ident(kept.name)} DROP NOT NULL")
    return actions


def _plan_type_change(ident: str, old: Column, new: Column) -> list[str]:
    if new.type == "null" or PG_TYPES[old.type] == PG_TYPES[new.type]:
        return []
    if not is_widening(old.type, new.type):
        raise ValueError(
            f"column {old.name!r} cannot change from {old.type} to {new.type}: that narrows it; "
            "load the file under a new dataset or widen the contract"
        )
    target_pg = PG_TYPES[new.type]
    using = build_conversion(ident, old.type, target_pg)
    return [f"ALTER COLUMN {ident} TYPE {target_pg} USING {using}"]

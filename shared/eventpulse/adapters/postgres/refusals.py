"""Postgres refusing a curated change or load, in words a user can act on.

The driver's error (the statement, Postgres's source file and line, the class name) stays on the
exception's ``__cause__``: the processor writes it to the worker log, never to the ingestion.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.exceptions
from sqlalchemy.exc import DatabaseError

from eventpulse.errors import CuratedTableImpossible, CuratedTableUnchanged, LoadRefused

REASONS = {
    "22": "a value does not fit the type of its column",
    "23": "a row breaks a constraint of the table (for example one an operator added)",
    "40": "the database cancelled it to resolve a conflict with another transaction",
    "42": "the table is not shaped as EventPulse recorded it (it may have been changed by hand)",
    "53": "the database is short of resources (disk, memory or connections)",
    "55": "the table is locked or in use",
    "57": "the statement was cancelled or the database is shutting down",
}
"""A plain reason per SQLSTATE class (its first two characters)."""
EXACT_REASONS = {"42501": "EventPulse's database user lacks a privilege on the table"}
"""Codes whose class would say the wrong thing."""
IMPOSSIBLE = {
    "54011": "the table would have more than Postgres's 1,600 columns (columns dropped earlier count too)",
}
"""Codes no retry can mend: the file's schema can never be applied to this table."""


def sqlstate_of(exc: BaseException) -> str:
    """The SQLSTATE of a pg8000 error (raw, or wrapped by SQLAlchemy); '' when it has none."""
    raw = getattr(exc, "orig", exc)
    fields = raw.args[0] if getattr(raw, "args", None) else None
    return str(fields.get("C", "")) if isinstance(fields, dict) else ""


def decide_reason(exc: BaseException) -> str:
    """Why, in a user's words; '' when the code says nothing a user can act on."""
    code = sqlstate_of(exc)
    return EXACT_REASONS.get(code) or REASONS.get(code[:2], "")


def _sentence(what: str, exc: BaseException) -> str:
    reason = decide_reason(exc)
    return f"{what}: {reason}" if reason else what


@contextmanager
def curated_change_refusals() -> Iterator[None]:
    """Raise CuratedTableUnchanged when Postgres refuses the DDL of a curated table."""
    try:
        yield
    except DatabaseError as exc:
        what = "the database refused to change the dataset's curated table to this file's schema"
        impossible = IMPOSSIBLE.get(sqlstate_of(exc))
        if impossible:
            raise CuratedTableImpossible(
                f"{what}: {impossible}",
                hint="send this data as a new dataset with fewer columns, or drop and recreate the "
                "curated table (see docs/SCHEMA_DRIFT.md, Column names)",
            ) from exc
        raise CuratedTableUnchanged(_sentence(what, exc)) from exc


@contextmanager
def load_refusals(table: str) -> Iterator[None]:
    """Raise LoadRefused when Postgres refuses the rows (COPY or merge) of a load into ``table``."""
    try:
        yield
    except pg8000.exceptions.DatabaseError as exc:
        what = f"the database refused the load into curated table {table!r}"
        raise LoadRefused(_sentence(what, exc)) from exc

"""Data products: marts declared in a dataset's contract, and their freshness (pure, no I/O).

A mart is a named SQL view over curated tables, declared under ``meta.eventpulse.marts``::

    {"name": "parcel_sales_by_month",
     "sql": "SELECT date_trunc('month', sale_date) AS month, count(*) AS sales FROM curated_parcels ...",
     "owner": "data-team@example.org", "description": "...",
     "freshness": {"warn_after": "2d", "error_after": "7d"}}

It becomes the view ``mart_<name>``. Its SQL must be exactly one query (checked by PostgreSQL's own
parser, pglast), so a contract can never smuggle a second statement into ``CREATE VIEW``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

MART_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MART_KEYS = frozenset({"name", "sql", "description", "owner", "freshness"})
FRESHNESS_KEYS = frozenset({"warn_after", "error_after"})
MAX_SQL_CHARS = 20_000
VIEW_PREFIX = "mart_"
_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|h|d|w)\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

FreshnessStatus = Literal["fresh", "warn", "error", "unknown"]


class MartSpecError(ValueError):
    """A mart declaration that does not validate: the key, what is wrong, and the fix."""

    def __init__(self, key: str, problem: str, fix: str):
        super().__init__(f"{key}: {problem}")
        self.key, self.problem, self.fix = key, problem, fix


@dataclass(frozen=True)
class Freshness:
    warn_after: timedelta | None = None
    error_after: timedelta | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {
            "warn_after_seconds": self.warn_after.total_seconds() if self.warn_after else None,
            "error_after_seconds": self.error_after.total_seconds() if self.error_after else None,
        }


@dataclass(frozen=True)
class MartSpec:
    name: str
    sql: str
    description: str = ""
    owner: str = ""
    freshness: Freshness = Freshness()

    @property
    def view(self) -> str:
        return VIEW_PREFIX + self.name


def parse_marts(value: Any) -> tuple[MartSpec, ...]:
    """The ``meta.eventpulse.marts`` list; MartSpecError naming the key of the first problem."""
    base = "meta.eventpulse.marts"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MartSpecError(base, "is not a list", 'write "marts": [{"name": ..., "sql": "SELECT ..."}]')
    marts = tuple(_parse_mart(f"{base}[{i}]", item) for i, item in enumerate(value))
    names = [m.name for m in marts]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise MartSpecError(
                f"{base}[{i}].name", f"repeats the mart {name!r}", "give each mart its own name"
            )
    return marts


def _parse_mart(key: str, item: Any) -> MartSpec:
    if not isinstance(item, dict):
        raise MartSpecError(key, "is not an object", 'write {"name": ..., "sql": "SELECT ..."}')
    unknown = sorted(set(item) - MART_KEYS)
    if unknown:
        raise MartSpecError(f"{key}.{unknown[0]}", "unknown key", f"use only: {', '.join(sorted(MART_KEYS))}")
    name = item.get("name")
    if not isinstance(name, str) or not MART_NAME.match(name):
        raise MartSpecError(
            f"{key}.name",
            f"is {name!r}",
            "use 1-40 characters: a lowercase letter, then lowercase letters, digits or '_'",
        )
    for text_key in ("description", "owner"):
        if not isinstance(item.get(text_key, ""), str):
            raise MartSpecError(f"{key}.{text_key}", "is not a string", "write a string")
    return MartSpec(
        name=name,
        sql=check_mart_sql(f"{key}.sql", item.get("sql")),
        description=str(item.get("description", "")),
        owner=str(item.get("owner", "")),
        freshness=_parse_freshness(f"{key}.freshness", item.get("freshness")),
    )


def check_mart_sql(key: str, sql: Any) -> str:
    """The SQL, stripped of a trailing ``;``, when PostgreSQL parses it as exactly one SELECT."""
    if not isinstance(sql, str) or not sql.strip():
        raise MartSpecError(key, "missing or empty", "write one SELECT over curated tables")
    if len(sql) > MAX_SQL_CHARS:
        raise MartSpecError(key, f"is longer than {MAX_SQL_CHARS} characters", "shorten the query")
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise MartSpecError(key, f"does not parse: {exc}", "fix the SQL syntax") from exc
    if len(statements) != 1:
        raise MartSpecError(
            key, f"holds {len(statements)} statements", "write exactly one SELECT, nothing else"
        )
    statement = statements[0].stmt
    if type(statement).__name__ != "SelectStmt" or getattr(statement, "intoClause", None) is not None:
        raise MartSpecError(key, "is not a query", "write a SELECT (or WITH ... SELECT, VALUES) without INTO")
    return sql.strip().rstrip(";").rstrip()


def _parse_freshness(key: str, value: Any) -> Freshness:
    if value is None:
        return Freshness()
    if not isinstance(value, dict):
        raise MartSpecError(key, "is not an object", 'write {"warn_after": "1d", "error_after": "3d"}')
    unknown = sorted(set(value) - FRESHNESS_KEYS)
    if unknown:
        raise MartSpecError(f"{key}.{unknown[0]}", "unknown key", "use only: error_after, warn_after")
    warn = _duration(f"{key}.warn_after", value.get("warn_after"))
    error = _duration(f"{key}.error_after", value.get("error_after"))
    if warn is not None and error is not None and error < warn:
        raise MartSpecError(
            f"{key}.error_after", "is shorter than warn_after", "make error_after >= warn_after"
        )
    return Freshness(warn, error)


def _duration(key: str, value: Any) -> timedelta | None:
    if value is None:
        return None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise MartSpecError(
            key, f"is {value!r}", 'write a positive count and a unit: "30m", "6h", "2d", "1w"'
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def freshness_status(last_load_at: datetime | None, now: datetime, freshness: Freshness) -> FreshnessStatus:
    """Where a mart stands against its policy, by the last successful load of what it reads."""
    if last_load_at is None:
        return "unknown"
    age = now - last_load_at
    if freshness.error_after is not None and age > freshness.error_after:
        return "error"
    if freshness.warn_after is not None and age > freshness.warn_after:
        return "warn"
    return "fresh"


def freshness_from_row(row: Mapping[str, Any]) -> Freshness:
    """The policy as the store keeps it (``warn_after_seconds``, ``error_after_seconds``)."""
    warn, error = row.get("warn_after_seconds"), row.get("error_after_seconds")
    return Freshness(
        timedelta(seconds=float(warn)) if warn is not None else None,
        timedelta(seconds=float(error)) if error is not None else None,
    )

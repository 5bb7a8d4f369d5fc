"""Logical schema types shared by inference, drift, contracts and the curated loader (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

LogicalType = Literal["null", "boolean", "integer", "number", "date", "datetime", "string"]
"""``null`` means no value was seen (an all-null column): it is compatible with every other type."""

LOGICAL_TYPES: tuple[LogicalType, ...] = (
    "null",
    "boolean",
    "integer",
    "number",
    "date",
    "datetime",
    "string",
)


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    nullable: bool = True
    fits: frozenset[LogicalType] = field(default=frozenset(), compare=False)
    """Narrower types that every observed value also casts to without loss (inference evidence, e.g.
    text ``2020-10-28 00:00:00`` fits ``date``). Not part of the schema's identity: it is ignored by
    equality and the fingerprint, and only an observed schema carries it."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.fits:
            out["fits"] = [t for t in LOGICAL_TYPES if t in self.fits]
        return out


@dataclass(frozen=True)
class TableSchema:
    """An ordered set of uniquely named columns."""

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for col in self.columns:
            if col.name in seen:
                raise ValueError(f"duplicate column name {col.name!r} in schema")
            if col.type not in LOGICAL_TYPES:
                raise ValueError(f"column {col.name!r}: unknown logical type {col.type!r}")
            seen.add(col.name)

    @classmethod
    def of(cls, columns: Iterable[Column]) -> TableSchema:
        return cls(tuple(columns))

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def get(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls(tuple(_column_from_dict(c) for c in data["columns"]))

    def without_fits(self) -> TableSchema:
        """The same columns with no inference evidence: the form a baseline is saved in."""
        return TableSchema(tuple(Column(c.name, c.type, c.nullable) for c in self.columns))

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON form: column order, names, types and nullability count."""
        canonical = json.dumps(self.without_fits().to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _column_from_dict(data: dict[str, Any]) -> Column:
    fits = frozenset(cast(LogicalType, t) for t in data.get("fits", ()) if t in LOGICAL_TYPES)
    return Column(str(data["name"]), cast(LogicalType, data["type"]), bool(data.get("nullable", True)), fits)

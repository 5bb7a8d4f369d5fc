"""Logical schema types shared by inference, drift, contracts and the curated loader (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


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
        return cls(
            tuple(
                Column(str(c["name"]), cast(LogicalType, c["type"]), bool(c.get("nullable", True)))
                for c in data["columns"]
            )
        )

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON form: column order, names, types and nullability count."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

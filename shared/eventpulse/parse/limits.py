"""Bounds a reader checks before it decodes a file: what a hostile file may make it expand (pure).

A refusal is a ``ReadError`` (terminal, FAILED_READ) that names the limit, the file's figure and the
setting that raises it. See docs/RELIABILITY.md ("Decompression bombs").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventpulse.errors import ReadError

if TYPE_CHECKING:
    from eventpulse.settings import Settings

MiB = 1024**2


@dataclass(frozen=True)
class ReadLimits:
    xlsx_max_expanded_bytes: int = 512 * MiB
    xlsx_max_cells: int = 10_000_000
    xlsx_max_compression_ratio: float = 250.0
    xlsx_max_entries: int = 10_000
    parquet_max_row_group_bytes: int = 1024 * MiB
    parquet_max_footer_bytes: int = 64 * MiB
    json_max_record_bytes: int = 16 * MiB

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(
            xlsx_max_expanded_bytes=settings.xlsx_max_expanded_bytes,
            xlsx_max_cells=settings.xlsx_max_cells,
            xlsx_max_compression_ratio=settings.xlsx_max_compression_ratio,
            parquet_max_row_group_bytes=settings.parquet_max_row_group_bytes,
            json_max_record_bytes=settings.json_max_record_bytes,
        )


def build_limit_error(label: str, what: str, found: str, limit: str, setting: str | None) -> ReadError:
    """A refusal naming the limit passed, by how much, and how to raise it (when a setting can)."""
    raise_it = f"raise EVENTPULSE_{setting.upper()} and replay" if setting else "nothing can raise this limit"
    return ReadError(
        f"file {label!r} exceeds the {what} limit: {found}, the limit is {limit}; it was not decoded",
        hint=f"split or re-export the file; if it is genuine, {raise_it} (docs/SETTINGS.md)",
        details={"limit": setting or what, "found": found, "maximum": limit},
    )


def describe_bytes(n: float) -> str:
    return f"{n / MiB:,.1f} MiB" if n >= MiB else f"{int(n):,} bytes"

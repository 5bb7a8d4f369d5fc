"""Gather rename evidence while a file is read: the curated values of its missing columns, the
values of its new ones, and the candidates they make (``schema/renames.py``) in the drift artifact.

Only a file whose header both lacks a known column and has a new one is watched: every other file
costs nothing. The known side is read from the curated table at the header, before the load's COPY
starts (bounded: ``SAMPLE_ROWS`` rows); the new side is profiled from the batches as they stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from eventpulse.schema.renames import (
    SAMPLE_ROWS,
    SAMPLE_VALUES,
    ColumnProfile,
    ProfileBuilder,
    find_rename_candidates,
    profiles_of,
)

if TYPE_CHECKING:
    from eventpulse.pipeline.settling import Settled
    from eventpulse.ports import CuratedTables
    from eventpulse.schema.model import TableSchema


@dataclass
class RenameWatch:
    removed: list[str]
    added: list[str]
    known: TableSchema
    old: dict[str, ColumnProfile] = field(default_factory=dict)
    builders: dict[str, ProfileBuilder] = field(default_factory=dict)

    @classmethod
    def for_header(cls, known: TableSchema, names: Sequence[str]) -> RenameWatch | None:
        """A watch when the header lacks a known column and has a new one; else None."""
        removed = [n for n in known.names if n not in names]
        added = [n for n in names if known.get(n) is None]
        if not removed or not added:
            return None
        return cls(removed, added, known, builders={n: ProfileBuilder() for n in added})

    def read_known(self, curated: CuratedTables, table: str) -> None:
        """The missing columns' statistics from the curated table (read-only, bounded)."""
        rows = curated.profile(table, self.removed, sample_rows=SAMPLE_ROWS, sample_values=SAMPLE_VALUES)
        for name, row in rows.items():
            column = self.known.get(name)
            if column is not None:
                self.old[name] = ColumnProfile.from_row(column.type, row)
        for name in self.removed:  # no table yet, or never loaded: types only
            column = self.known.get(name)
            if name not in self.old and column is not None:
                self.old[name] = ColumnProfile(column.type, 0, 0)

    @property
    def rows(self) -> int:
        return max((b.rows for b in self.builders.values()), default=0)

    def feed(self, batch: pa.RecordBatch) -> None:
        for name, builder in self.builders.items():
            if name in batch.schema.names:
                builder.feed(batch.column(name))

    def attach(self, settled: Settled, types: dict[str, Any] | None = None) -> None:
        """Put the candidates (with their evidence) in ``settled``'s drift artifact."""
        kinds = types if types is not None else {c.name: c.type for c in settled.observed}
        candidates = find_rename_candidates(self.old, profiles_of(self.added, self.builders, kinds))
        if candidates:
            settled.drift["rename_candidates"] = [c.to_dict() for c in candidates]
            settled.drift["rename_candidates_rows_read"] = self.rows


def describe_candidates(drift: dict[str, Any], dataset: str) -> str:
    """The hint telling how to confirm the rename candidates of a drift artifact ('' if none)."""
    found = drift.get("rename_candidates") or []
    if not found:
        return ""
    pairs = ", ".join(f"{c['observed']!r} may be {c['known']!r} renamed (score {c['score']})" for c in found)
    mapping = ", ".join(f'"{c["observed"]}": "{c["known"]}"' for c in found)
    return (
        f'{pairs}; to confirm, add "renames": {{{mapping}}} to meta.eventpulse in '
        f"contracts/{dataset}.json and replay the file (the column then keeps its history)"
    )

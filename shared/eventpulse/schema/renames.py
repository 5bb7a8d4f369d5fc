"""Rename candidates: pair a missing known column with a new one by name and by values (pure).

Every drift rule treats a rename as a drop plus an add; this module only gathers the evidence that
the two are one column, for a user to confirm (contract ``renames``). Each (missing, new) pair is
scored from 0 to 1:

- ``name``: the better of difflib's similarity ratio and the share of ``_``-separated words in common;
- ``values`` (when both sides have values): type compatibility, null rate, the overlap of the numeric
  (else text-length) ranges, and the overlap of bounded samples of distinct values.

``score = 0.35 * name + 0.65 * values``; without the known column's values (an empty or absent table)
``score = 0.7 * name + 0.3 * type``. A pair of incompatible types is never a candidate. Pairs scoring
at least ``MIN_SCORE`` are candidates, matched one to one, best first. Thresholds: docs/SCHEMA_DRIFT.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.schema.model import LogicalType

MIN_SCORE = 0.55
"""A pair scoring below this is not reported."""
STRONG_SCORE = 0.8
"""A pair scoring at least this is reported as ``strong``."""
SAMPLE_VALUES = 200
"""Distinct values kept per column on each side (bounded memory)."""
SAMPLE_ROWS = 10_000
"""Rows of the curated table a known column's statistics are read from."""
_NAME_WEIGHT = 0.35
_NUMERIC: frozenset[LogicalType] = frozenset(("integer", "number"))


@dataclass(frozen=True)
class ColumnProfile:
    """Value statistics of one column, over the rows read (bounded)."""

    type: LogicalType
    rows: int
    nulls: int
    min_number: float | None = None
    max_number: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    sample: frozenset[str] = frozenset()
    """Distinct non-null values as text, at most ``SAMPLE_VALUES``."""

    @property
    def null_rate(self) -> float | None:
        return self.nulls / self.rows if self.rows else None

    @property
    def has_values(self) -> bool:
        return self.rows > self.nulls

    @classmethod
    def from_row(cls, kind: LogicalType, row: Mapping[str, Any]) -> ColumnProfile:
        """A profile from a ``CuratedTables.profile`` row."""
        return cls(
            kind,
            int(row["rows"]),
            int(row["nulls"]),
            _float(row.get("min_number")),
            _float(row.get("max_number")),
            row.get("min_length"),
            row.get("max_length"),
            frozenset(_canonical(str(v)) for v in row.get("sample", ())[:SAMPLE_VALUES]),
        )


@dataclass
class ProfileBuilder:
    """Accumulates a ``ColumnProfile`` over record batches in bounded memory."""

    rows: int = 0
    nulls: int = 0
    numeric: bool = True
    min_number: float | None = None
    max_number: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    sample: set[str] = field(default_factory=set)

    def feed(self, values: pa.Array) -> None:
        self.rows += len(values)
        self.nulls += values.null_count
        present = values.drop_null()
        if len(present) == 0:
            return
        texts = present if pa.types.is_string(present.type) else pc.cast(present, pa.string())
        lengths = pc.min_max(pc.utf8_length(texts)).as_py()
        self.min_length = _lower(self.min_length, lengths["min"])
        self.max_length = _upper(self.max_length, lengths["max"])
        self._feed_numbers(present)
        if len(self.sample) < SAMPLE_VALUES:
            for value in pc.unique(texts.slice(0, SAMPLE_VALUES * 4)).to_pylist():
                if len(self.sample) >= SAMPLE_VALUES:
                    break
                self.sample.add(_canonical(value))

    def _feed_numbers(self, present: pa.Array) -> None:
        if not self.numeric:
            return
        try:
            numbers = pc.cast(present, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self.numeric, self.min_number, self.max_number = False, None, None
            return
        bounds = pc.min_max(numbers).as_py()
        self.min_number = _lower(self.min_number, bounds["min"])
        self.max_number = _upper(self.max_number, bounds["max"])

    def build(self, kind: LogicalType) -> ColumnProfile:
        numeric = kind in _NUMERIC and self.numeric
        return ColumnProfile(
            kind,
            self.rows,
            self.nulls,
            self.min_number if numeric else None,
            self.max_number if numeric else None,
            self.min_length,
            self.max_length,
            frozenset(self.sample),
        )


@dataclass(frozen=True)
class RenameCandidate:
    known: str
    """The known column missing from the file."""
    observed: str
    """The file's new column."""
    score: float
    strength: Literal["strong", "possible"]
    evidence: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "observed": self.observed,
            "score": self.score,
            "strength": self.strength,
            "evidence": dict(self.evidence),
        }


def find_rename_candidates(
    removed: Mapping[str, ColumnProfile], added: Mapping[str, ColumnProfile]
) -> list[RenameCandidate]:
    """Candidates pairing missing known columns with new ones, one to one, best score first."""
    scored = [
        c for old in removed for new in added if (c := score_rename(old, removed[old], new, added[new]))
    ]
    scored.sort(key=lambda c: (-c.score, c.known, c.observed))
    taken: set[str] = set()
    chosen: list[RenameCandidate] = []
    for candidate in scored:
        if candidate.known in taken or candidate.observed in taken:
            continue
        taken.update((candidate.known, candidate.observed))
        chosen.append(candidate)
    return chosen


def score_rename(known: str, old: ColumnProfile, observed: str, new: ColumnProfile) -> RenameCandidate | None:
    """The candidate "``observed`` is ``known`` renamed", or None when the evidence is too weak."""
    kind = _type_score(old.type, new.type)
    if kind == 0.0:
        return None
    name = name_similarity(known, observed)
    evidence: dict[str, Any] = {
        "name_similarity": round(name, 3),
        "type": {"known": old.type, "observed": new.type, "score": kind},
    }
    if old.has_values and new.has_values:
        values = _value_score(old, new, evidence)
        score = _NAME_WEIGHT * name + (1 - _NAME_WEIGHT) * values
    else:
        evidence["values"] = "not compared: " + ("the file" if old.has_values else "the curated table")
        evidence["values"] += " has no values of the column"
        score = 0.7 * name + 0.3 * kind
    score = round(score, 3)
    if score < MIN_SCORE:
        return None
    strength: Literal["strong", "possible"] = "strong" if score >= STRONG_SCORE else "possible"
    return RenameCandidate(known, observed, score, strength, evidence)


def name_similarity(a: str, b: str) -> float:
    """0..1: the better of the character similarity and the share of words in common."""
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    words_a, words_b = set(a.split("_")) - {""}, set(b.split("_")) - {""}
    shared = len(words_a & words_b) / len(words_a | words_b) if words_a | words_b else 0.0
    return max(ratio, shared)


def _type_score(a: LogicalType, b: LogicalType) -> float:
    if a == b:
        return 1.0
    if "null" in (a, b):
        return 0.5
    if {a, b} <= _NUMERIC or {a, b} == {"date", "datetime"}:
        return 0.7
    if "string" in (a, b):
        return 0.3  # text can hold anything, but a typed column rarely becomes text by renaming
    return 0.0


def _value_score(old: ColumnProfile, new: ColumnProfile, evidence: dict[str, Any]) -> float:
    kind = float(evidence["type"]["score"])
    old_rate, new_rate = old.null_rate or 0.0, new.null_rate or 0.0
    nulls = 1 - abs(old_rate - new_rate)
    evidence["null_rate"] = {"known": round(old_rate, 3), "observed": round(new_rate, 3)}
    ranges: tuple[tuple[Any, Any], tuple[Any, Any]]
    if old.min_number is not None and new.min_number is not None:
        ranges = (old.min_number, old.max_number), (new.min_number, new.max_number)
        evidence["range"] = {"known": list(ranges[0]), "observed": list(ranges[1])}
    else:
        ranges = (old.min_length, old.max_length), (new.min_length, new.max_length)
        evidence["length"] = {"known": list(ranges[0]), "observed": list(ranges[1])}
    overlap = _range_overlap(*ranges)
    shared = old.sample & new.sample
    smaller = min(len(old.sample), len(new.sample))
    sample = len(shared) / smaller if smaller else 0.0
    evidence["sample_overlap"] = {
        "shared": len(shared),
        "of": smaller,
        "examples": sorted(shared)[:5],
    }
    return 0.15 * kind + 0.15 * nulls + 0.3 * overlap + 0.4 * sample


def _range_overlap(a: tuple[Any, Any], b: tuple[Any, Any]) -> float:
    """Length of the intersection over the length of the union of two closed ranges (0..1)."""
    if None in (*a, *b):
        return 0.0
    low, high = max(a[0], b[0]), min(a[1], b[1])
    if high < low:
        return 0.0
    union = max(a[1], b[1]) - min(a[0], b[0])
    return 1.0 if union == 0 else float(high - low) / float(union)


def _canonical(value: str) -> str:
    """One spelling per value on both sides: ``1200``, ``1200.0`` and ``1200.00`` are one number."""
    try:
        number = float(value)
    except ValueError:
        return value
    return repr(number) if number == number else value  # NaN stays text


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _lower(current: Any, value: Any) -> Any:
    return value if current is None or (value is not None and value < current) else current


def _upper(current: Any, value: Any) -> Any:
    return value if current is None or (value is not None and value > current) else current


def profiles_of(
    names: Sequence[str], builders: Mapping[str, ProfileBuilder], types: Mapping[str, LogicalType]
) -> dict[str, ColumnProfile]:
    """The built profiles of ``names``, typed as observed (``null`` when no value was read)."""
    return {n: builders[n].build(types.get(n, "null")) for n in names if n in builders}

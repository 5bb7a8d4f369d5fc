"""A dataset contract: a Great Expectations suite plus EventPulse's own metadata (pure, no GX import)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from eventpulse.contracts.expectation_types import COLUMN_KWARGS, StreamClass, stream_class_of
from eventpulse.contracts.marts import MartSpec
from eventpulse.schema.model import TableSchema

if TYPE_CHECKING:
    from eventpulse.schema.drift import DriftPolicy

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
"""Only a failing ``critical`` expectation fails the quality gate; the others are reported."""

RowFailure = Literal["fail_file", "quarantine"]
ROW_FAILURES: tuple[RowFailure, ...] = ("fail_file", "quarantine")
"""What a row failing an expectation does: nothing of its own (the file's outcome decides), or is held
back in the quarantine store while the rows that pass are loaded (docs/CONTRACTS.md#quarantine)."""


@dataclass(frozen=True)
class Expectation:
    type: str
    kwargs: Mapping[str, Any]
    severity: Severity
    meta: Mapping[str, Any]
    on_row_failure: RowFailure = "fail_file"
    """``quarantine``: rows failing it are held back, not loaded (only ``row`` expectations)."""

    @property
    def quarantines(self) -> bool:
        return self.on_row_failure == "quarantine"

    @property
    def stream_class(self) -> StreamClass:
        found = stream_class_of(self.type)
        if found is None:  # parse_contract only builds supported types
            raise ValueError(f"unsupported expectation type {self.type!r}")
        return found

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this expectation names in its kwargs, in order, without repeats."""
        names: list[str] = []
        for key in COLUMN_KWARGS:
            value = self.kwargs.get(key)
            items = [value] if isinstance(value, str) else list(value or [])
            names.extend(str(v) for v in items if str(v) not in names)
        return tuple(names)


@dataclass(frozen=True)
class Contract:
    dataset: str
    version: str
    """sha256 hex of the contract file bytes: any byte change is a new version."""
    suite: Mapping[str, Any]
    """The raw GX ExpectationSuite JSON, as read."""
    schema: TableSchema
    """Declared columns (logical type + nullability) from ``meta.eventpulse.columns``."""
    primary_key: tuple[str, ...]
    drift_policy: DriftPolicy
    expectations: tuple[Expectation, ...]
    sheet: str | int | None
    """The XLSX sheet to read (name or 0-based index); None means the first sheet."""
    marts: tuple[MartSpec, ...] = ()
    """Data products over the curated tables (``meta.eventpulse.marts``, contracts/marts.py)."""
    renames: Mapping[str, str] = field(default_factory=dict)
    """``{name in files: known column}``: confirmed renames, applied when a file is read."""
    on_row_failure: RowFailure = "fail_file"
    """The dataset's default for its expectations (``meta.eventpulse.on_row_failure``)."""

    @property
    def quarantines(self) -> bool:
        """True when some expectation holds failing rows back instead of failing the file."""
        return any(e.quarantines for e in self.expectations)

    def expectations_of(self, stream_class: StreamClass) -> tuple[Expectation, ...]:
        return tuple(e for e in self.expectations if e.stream_class == stream_class)

"""When a file's drift is decided: on its header, at the first batch that proves a reject, or at its end.

A reject is final as soon as the evidence shows it, because evidence only accumulates: the column
names are known before any row is read, and as batches arrive the inferred types only widen, the
types that every value fits only shrink, and a null once seen stays seen. So a change that rejects
on part of the file rejects on all of it (and a reject outranks every other outcome). Accept and
quarantine are only known at the end: a later batch can still prove a reject, and an approval needs
the held file's whole observed schema. See docs/SCHEMA_DRIFT.md, "When the decision is taken".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from eventpulse.contracts.model import Contract
from eventpulse.pipeline.records import drift_artifact
from eventpulse.schema.drift import DriftChange, DriftDecision, decide_drift, decide_header_drift
from eventpulse.schema.inference import SchemaInferrer
from eventpulse.schema.model import Column, TableSchema

Evidence = Literal["header", "rows", "file"]
"""What the decision saw: the column names only, the rows up to a batch, or the whole file."""

_NOTES: dict[Evidence, str] = {
    "header": "the column names alone make the policy reject the file: no row was read, so the "
    "types of its columns are unknown",
    "rows": "the rows read so far already hold a change the policy rejects; the rest of the file was "
    "not read (later rows could only widen the observed types)",
}


@dataclass(frozen=True)
class Settled:
    """A drift decision, and the evidence it was taken on."""

    observed: TableSchema
    """The observed schema; on a header decision, the names with no values read (type ``null``)."""
    decision: DriftDecision
    drift: dict[str, Any]
    """The drift artifact."""
    rows_read: int
    evidence: Evidence

    @property
    def types_read(self) -> bool:
        return self.evidence != "header"

    @property
    def whole_file(self) -> bool:
        return self.evidence == "file"


def is_conclusive_reject(decision: DriftDecision) -> bool:
    """True when more rows cannot undo the reject: it does not rest on a narrowed type alone.

    A narrowed type is the one change later rows can take back (integers for a ``number`` column
    until the first fraction), so a per-column ``type_narrowed`` rule is only decided on the whole file.
    """
    return any(
        c.breaking and c.mode in ("fail", "freeze") and c.kind != "type_narrowed" for c in decision.changes
    )


@dataclass(frozen=True)
class DriftSettler:
    """Decides one file's drift against the known schema under the contract's policy (pure)."""

    known: TableSchema
    contract: Contract
    renamed: Mapping[str, str] = field(default_factory=dict)
    """Renames the file's columns were read under (``{name in the file: known column}``)."""
    sheet_changes: tuple[DriftChange, ...] = ()
    """Sheets added to or removed from the dataset's known workbook (never blocking)."""
    read: Mapping[str, Any] = field(default_factory=dict)
    """How the file was read (a workbook's sheet, its sheets, the header row used)."""

    def settle_header(self, names: Sequence[str]) -> Settled | None:
        """The decision on the column names when they alone reject the file; None: read the rows."""
        decision = decide_header_drift(self.known, names, self.contract.drift_policy)
        if decision.outcome != "reject":
            return None
        settled = self._settled(TableSchema.of(Column(n, "null") for n in names), decision, 0, "header")
        settled.drift.update(
            observed_schema={"columns": [{"name": n} for n in names]}, observed_fingerprint=None
        )
        return settled

    def settle_rows(self, inferrer: SchemaInferrer) -> Settled | None:
        """The decision on the rows fed to ``inferrer`` when they already reject the file; else None."""
        if inferrer.rows == 0:  # no evidence yet (an empty batch says nothing about nullability)
            return None
        observed = inferrer.result()
        decision = decide_drift(self.known, observed, self.contract.drift_policy)
        if not is_conclusive_reject(decision):
            return None
        return self._settled(observed, decision, inferrer.rows, "rows")

    def settle(self, observed: TableSchema, rows_read: int) -> Settled:
        """The decision on the whole file."""
        decision = decide_drift(self.known, observed, self.contract.drift_policy)
        return self._settled(observed, decision, rows_read, "file")

    def _settled(
        self, observed: TableSchema, decision: DriftDecision, rows_read: int, evidence: Evidence
    ) -> Settled:
        drift = drift_artifact(self.known, observed, decision, self.contract)
        drift["decided"] = {"on": evidence, "rows_read": rows_read}
        if self.renamed:
            drift["renamed"] = dict(self.renamed)
        if self.read:
            drift["read"] = dict(self.read)
        drift["decision"]["changes"] += [c.to_dict() for c in self.sheet_changes]
        if evidence in _NOTES:
            drift["decided"]["note"] = _NOTES[evidence]
        return Settled(observed, decision, drift, rows_read, evidence)

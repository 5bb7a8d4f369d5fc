"""Fail fast: check a file's declared header against its dataset before any byte is accepted.

``check_header`` is pure: the drift decision that the column names alone force, taken exactly as the
processor takes it on a landed file's header (``DriftSettler.settle_header`` rejects when
``decide_header_drift`` does; this module calls the latter itself because ``pipeline/settling.py``
imports pyarrow, which the ``signed_url`` function must not load, and a unit test pins that the two
always agree). Only names are known
here, never types, so it can prove added and missing columns and nothing else; a header it accepts
may still be rejected or held once the rows are read. ``load_header_check`` reads the history.
See docs/SCHEMA_DRIFT.md, "Fail fast: checking the header before the upload".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, cast

from eventpulse.errors import BadRequest, EventPulseError, ReadError
from eventpulse.landing.peek import PrefixedStream, peek_header
from eventpulse.parse.formats import detect_format
from eventpulse.parse.header import HEADER_FORMATS, Header, is_header_complete, read_sample_header
from eventpulse.pipeline.baseline import known_schema
from eventpulse.schema.drift import DriftChange, DriftPolicy, decide_header_drift

if TYPE_CHECKING:
    from eventpulse.contracts.model import Contract
    from eventpulse.parse.formats import FileFormat
    from eventpulse.ports import Services
    from eventpulse.schema.model import TableSchema

HeaderOutcome = Literal["accept", "reject"]

_POLICY_KEY = {
    "column_added": "new_columns",
    "column_removed": "removed_columns",
    "type_widened": "type_changes",
    "type_narrowed": "type_changes",
    "type_incompatible": "type_changes",
    "nullability_relaxed": "nullability",
}


class HeaderRefused(EventPulseError):
    """The declared header holds a change the dataset's drift policy rejects: nothing is accepted."""

    code = "schema_drift"
    http_status = 422


class HeaderUnreadable(EventPulseError):
    """``fail_fast`` could not read the header of the arriving upload: nothing is accepted."""

    code = "unreadable_header"
    http_status = 422


@dataclass(frozen=True)
class HeaderCheck:
    """The verdict on a declared header: ``reject`` is final, ``accept`` means "read the rows"."""

    dataset: str
    outcome: HeaderOutcome
    columns: tuple[str, ...]
    changes: tuple[DriftChange, ...]
    policy: DriftPolicy

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "columns": list(self.columns),
            "changes": [describe_change(c, self.policy) for c in self.changes],
        }

    def ensure_accepted(self) -> HeaderCheck:
        """This check; raises HeaderRefused (422) naming every change that rejects the file."""
        if self.outcome == "accept":
            return self
        blocking = [c for c in self.changes if c.breaking]
        listed = "; ".join(describe_change(c, self.policy)["message"] for c in blocking)
        raise HeaderRefused(
            f"dataset {self.dataset!r} refuses this header: {listed}",
            hint="send a file whose header has the dataset's columns, or change the drift_policy of "
            f"the dataset's contract (contracts/{self.dataset}.json or PUT /api/contracts/{self.dataset}) "
            "first; nothing was accepted",
            details={
                "dataset": self.dataset,
                "header_check": self.to_dict(),
                "drift_policy": self.policy.to_dict(),
            },
        )


def check_header(
    contract: Contract, history: TableSchema | None, columns: Sequence[str], *, complete: bool = True
) -> HeaderCheck:
    """Accept or reject the column names ``columns`` (normalized) of a file not yet read.

    ``history`` is the dataset's newest accepted schema (None before its first load). With
    ``complete=False`` (an NDJSON file's first record) a known column absent from ``columns`` may
    still come later, so it is assumed present: only added columns can reject.
    """
    known = known_schema(contract, history)
    names = list(columns)
    if not complete:
        names += [name for name in known.names if name not in set(columns)]
    policy = contract.drift_policy
    decision = decide_header_drift(known, names, policy)
    outcome: HeaderOutcome = "reject" if decision.outcome == "reject" else "accept"
    return HeaderCheck(contract.dataset, outcome, tuple(columns), decision.changes, policy)


def load_header_check(services: Services, contract: Contract, header: Header) -> HeaderCheck:
    """``check_header`` against the dataset's newest accepted schema, read from the store."""
    with services.store.read() as tx:
        history = tx.schemas.latest(contract.dataset)
    return check_header(contract, history[1] if history else None, header.columns, complete=header.complete)


def describe_change(change: DriftChange, policy: DriftPolicy) -> dict[str, Any]:
    """A change as the client sees it: what the header shows, and what the policy says of it."""
    key = _POLICY_KEY.get(change.kind, change.kind)
    configured = getattr(policy, key, None)
    if change.kind == "column_added":
        what = f"column {change.column!r} is new"
    elif change.kind == "column_removed":
        what = f"column {change.column!r} is missing"
    else:
        what = f"column {change.column!r}: {change.kind.replace('_', ' ')}"
    said = f"the drift policy says {key}: {configured}"
    if configured is not None and configured != change.mode:
        said += f", but the column is required (NOT NULL), so its absence is {change.mode}"
    return {
        "kind": change.kind,
        "column": change.column,
        "policy": key,
        "mode": change.mode,
        "breaking": change.breaking,
        "message": f"{what}; {said}",
    }


class StreamHeaderCheck:
    """``fail_fast`` for a direct upload: the header is read as it arrives and checked before landing.

    Called by ``register_stream`` once the contract is known (``before_landing``); a refusal raises
    before one byte is landed. On accept, the stream it returns yields the very same bytes.
    """

    def __init__(self, services: Services, filename: str, *, declared_encoding: str | None) -> None:
        self.services = services
        self.filename = filename
        self.declared_encoding = declared_encoding
        self.result: HeaderCheck | None = None

    def __call__(self, contract: Contract, stream: BinaryIO) -> BinaryIO:
        fmt = ensure_header_format(self.filename)
        try:
            sample, at_end = peek_header(
                stream, lambda sample: is_header_complete(sample, fmt, self.declared_encoding)
            )
            header = read_sample_header(
                sample, fmt, self.filename, declared_encoding=self.declared_encoding, at_end=at_end
            )
        except ReadError as exc:
            raise HeaderUnreadable(
                f"fail_fast cannot read the header: {exc.message}",
                hint="fix the file, or upload it without fail_fast (it is then landed, and fails "
                "with this reason)",
                details=dict(exc.details),
            ) from None
        self.result = load_header_check(self.services, contract, header).ensure_accepted()
        return cast(BinaryIO, PrefixedStream(sample, stream))


def ensure_header_format(filename: str) -> FileFormat:
    """The file's format when its header can be read as it arrives (CSV, NDJSON); else a 400."""
    fmt = detect_format(filename)
    if fmt not in HEADER_FORMATS:
        raise BadRequest(
            f"fail_fast cannot check a {fmt} file: its columns are known only once the whole file is read",
            hint="fail_fast works for CSV and NDJSON uploads; upload this file without fail_fast, or "
            "ask for a signed URL declaring its columns",
            details={"parameter": "fail_fast", "format": fmt},
        )
    return fmt

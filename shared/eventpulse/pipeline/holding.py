"""Rows that leave a file without being loaded as read: held back by the quarantine, or discarded.

``DiscardTrace`` collects, batch by batch, the rows a ``discard_row`` drift policy removes and the
values ``discard_value`` nulls, from the raw batch as read. ``read_held_rows`` reads the raw file a
second time, only when the gate held rows back, to take the held rows' values as read: the gate learns
which rows fail only after validating a whole chunk, when the raw batches are long gone, and keeping
every raw batch until then would cost the file's size in memory. The second read costs one parse of
the file (cheap next to the load, see DESIGN.md) and happens only when something is held.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.contracts.model import Contract
from eventpulse.parse.source import TabularSource
from eventpulse.ports import NewQuarantinedRow, QuarantineFilter, Row, Transaction

REPLAY_OPTION = "quarantine_replay"
"""The key of a replay ingestion's options that names the held rows it revalidates."""

CAST_FAILURE_TYPE = "eventpulse_values_match_declared_type"
NEW_COLUMN_VALUE_TYPE = "eventpulse_drift_no_values_in_new_column"
"""The failure recorded for a row a ``discard_row`` policy removed for carrying a new column."""
DRIFT_SEVERITY = "drift_policy"


def build_failure(contract: Contract, index: int) -> dict[str, Any]:
    """One failure entry for expectation ``index`` of ``contract``."""
    exp = contract.expectations[index]
    return {"expectation_type": exp.type, "kwargs": jsonable(dict(exp.kwargs)), "severity": exp.severity}


def build_held_failures(contract: Contract, indices: Iterable[int]) -> list[dict[str, Any]]:
    return [build_failure(contract, i) for i in indices]


@dataclass
class _Trace:
    kind: str
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DiscardTrace:
    """Rows removed (``discard_row``) and values nulled (``discard_value``) in one file, as read."""

    contract: Contract
    records: list[NewQuarantinedRow] = field(default_factory=list)

    def add_batch(
        self,
        batch: pa.RecordBatch,
        source_rows: pa.Array,
        *,
        new_columns: Mapping[str, pa.Array],
        discarded_casts: Mapping[str, pa.Array],
        nulled_casts: Mapping[str, pa.Array],
    ) -> None:
        """Record this batch's traces; arrays hold 0-based batch positions (or a bool mask for new columns).

        ``source_rows`` holds the source row number of each row of ``batch``.
        """
        traces: dict[int, _Trace] = {}
        for column, mask in new_columns.items():
            for position in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
                trace = traces.setdefault(int(position), _Trace("discard_row"))
                trace.failures.append(
                    {
                        "expectation_type": NEW_COLUMN_VALUE_TYPE,
                        "kwargs": {"column": column},
                        "severity": DRIFT_SEVERITY,
                    }
                )
        for kind, failed in (("discard_row", discarded_casts), ("discard_value", nulled_casts)):
            for column, positions in failed.items():
                declared = self.contract.schema.get(column)
                for position in positions.to_pylist():
                    trace = traces.setdefault(int(position), _Trace(kind))
                    if kind == "discard_row":
                        trace.kind = "discard_row"  # a removed row is removed, whatever else happened
                    trace.failures.append(
                        {
                            "expectation_type": CAST_FAILURE_TYPE,
                            "kwargs": {"column": column, "type": declared.type if declared else None},
                            "severity": DRIFT_SEVERITY,
                        }
                    )
        if not traces:
            return
        positions = sorted(traces)
        taken = pa.array(positions, pa.int64())
        values = batch.take(taken).to_pylist()
        numbers = source_rows.take(taken).to_pylist()
        for position, number, row in zip(positions, numbers, values, strict=True):
            trace = traces[position]
            reason = (
                "removed by the discard_row drift policy"
                if trace.kind == "discard_row"
                else "values set to null by the discard_value drift policy"
            )
            self.records.append(
                NewQuarantinedRow(
                    source_row=int(number),
                    kind="discard_row" if trace.kind == "discard_row" else "discard_value",
                    failures=trace.failures,
                    values=jsonable(row),
                    status="discarded",
                    resolution_reason=reason,
                )
            )

    @property
    def rows_removed(self) -> int:
        return sum(1 for r in self.records if r.kind == "discard_row")


def read_held_rows(
    source: TabularSource, held: Mapping[int, Sequence[int]], contract: Contract
) -> list[NewQuarantinedRow]:
    """Read the file again and build one held record per row in ``held`` (source row -> expectations)."""
    wanted = pa.array(sorted(held), pa.int64())
    out: list[NewQuarantinedRow] = []
    seen = 0
    for batch in source.batches():
        numbers = pa.array(np.arange(seen + 1, seen + batch.num_rows + 1, dtype=np.int64))
        seen += batch.num_rows
        mask = pc.is_in(numbers, value_set=wanted)
        if not pc.any(mask).as_py():
            continue
        rows = batch.filter(mask).to_pylist()
        for number, row in zip(numbers.filter(mask).to_pylist(), rows, strict=True):
            out.append(
                NewQuarantinedRow(
                    source_row=int(number),
                    kind="expectation",
                    failures=build_held_failures(contract, held[int(number)]),
                    values=jsonable(row),
                )
            )
        if len(out) == len(wanted):
            break
    return out


@dataclass(frozen=True)
class HeldRowsReplay:
    """A replay ingestion's held rows: quarantine ids and their source rows, aligned."""

    ids: tuple[int, ...]
    source_rows: tuple[int, ...]


def replayed_sender(ingestion: Row) -> str | None:
    """The device that sent the file whose held rows this replay revalidates (None: no device).

    A replay's own source is ``quarantine_replay``; the sender travels in its options so that the
    replay binds the rows to the same device as the first load did.
    """
    spec = (ingestion.get("options") or {}).get(REPLAY_OPTION)
    device = spec.get("device_id") if isinstance(spec, dict) else None
    return str(device) if device else None


def held_rows_replayed(ingestion: Row) -> HeldRowsReplay | None:
    """The held rows this ingestion revalidates, or None when it processes a whole file."""
    spec = (ingestion.get("options") or {}).get(REPLAY_OPTION)
    if not isinstance(spec, dict):
        return None
    return HeldRowsReplay(
        tuple(int(i) for i in spec.get("ids") or ()), tuple(int(r) for r in spec.get("source_rows") or ())
    )


def settle_replay(
    tx: Transaction,
    contract: Contract,
    replay: HeldRowsReplay,
    still_held: Mapping[int, Sequence[int]],
    trace: DiscardTrace,
    replay_ingestion_id: Any,
    actor: str,
    kept_held: Iterable[int] = (),
) -> None:
    """After a replay's load: rows now loaded become ``replayed``; rows failing again stay held.

    Held rows stay attached to their original ingestion; their failures and contract version are
    those of the latest attempt. A row a drift policy removed on the replay stays held as it was, and
    so do ``kept_held`` rows (a device's file: rows naming another device, never loaded).
    """
    records = tx.quarantine.page(QuarantineFilter(ids=list(replay.ids)), limit=max(len(replay.ids), 1))
    removed = {r.source_row for r in trace.records if r.kind == "discard_row"} | set(kept_held)
    loaded: list[int] = []
    for record in records:
        if record["status"] != "held":
            continue
        source_row = int(record["source_row"])
        if source_row in still_held:
            failures = build_held_failures(contract, still_held[source_row])
            tx.quarantine.update_failures(record["id"], failures=failures, contract_version=contract.version)
        elif source_row not in removed:
            loaded.append(int(record["id"]))
    tx.quarantine.resolve(
        loaded, status="replayed", actor=actor, reason=None, replay_ingestion_id=replay_ingestion_id
    )
    if records:
        tx.audit.record(
            actor=actor,
            action="quarantine.replayed",
            entity_type="ingestion",
            entity_id=str(records[0]["ingestion_id"]),
            dataset=contract.dataset,
            details={
                "replay_ingestion_id": str(replay_ingestion_id),
                "replayed": len(loaded),
                "still_held": len(still_held),
            },
        )


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: dates ISO 8601, decimals and bytes as strings, NaN as null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")  # Postgres jsonb cannot hold NUL
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Decimal):
        return str(value)
    return str(value)

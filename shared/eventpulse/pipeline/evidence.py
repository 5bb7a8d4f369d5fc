"""What a drift artifact reports beyond the decision: how a workbook was read (its sheets, the header
row used), sheets added or removed, and rename candidates. Called by ``loading.load_curated``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eventpulse.errors import ReadError
from eventpulse.parse.csv_reader import CsvSource
from eventpulse.parse.readers import TabularSource
from eventpulse.parse.renamed import RenamedSource
from eventpulse.parse.xlsx_reader import XlsxSource
from eventpulse.pipeline.renaming import RenameWatch
from eventpulse.pipeline.settling import DriftSettler, Settled
from eventpulse.schema.drift import DriftChange, decide_sheet_drift
from eventpulse.schema.inference import SchemaInferrer


def describe_read(source: TabularSource) -> dict[str, Any]:
    """How a file was read: the 1-based header row used; for a workbook, its sheet and every sheet."""
    inner = source.inner if isinstance(source, RenamedSource) else source
    if isinstance(inner, XlsxSource):
        return {"sheet": inner.sheet, "sheets": list(inner.sheet_names), "header_row": inner.header_row + 1}
    if isinstance(inner, CsvSource):
        return {"header_row": inner.header_row + 1}
    return {}


def with_read(settler: DriftSettler, read: dict[str, Any], known_sheets: Any) -> DriftSettler:
    """``settler`` reporting how the file was read and, for a workbook, its sheet changes."""
    if not read:
        return settler
    changes: tuple[DriftChange, ...] = ()
    if "sheets" in read:
        known = [str(s) for s in known_sheets] if isinstance(known_sheets, list) else None
        changes = decide_sheet_drift(known, read["sheets"], settler.contract.drift_policy.sheets)
    return replace(settler, sheet_changes=changes, read=read)


def with_candidates(settled: Settled | None, watch: RenameWatch | None) -> Settled | None:
    if settled is not None and watch is not None:
        watch.attach(settled)
    return settled


def with_header_evidence(
    settled: Settled | None, watch: RenameWatch | None, source: TabularSource
) -> Settled | None:
    """A header reject, with rename candidates scored on the file's first batch (no row is loaded)."""
    if settled is None or watch is None:
        return settled
    try:
        first = next(iter(source.batches()))
    except ReadError:  # a body that cannot be read leaves the candidates to names and types
        first = None
    inferrer = SchemaInferrer.for_format(source.format)
    if first is not None:
        watch.feed(first)
        inferrer.feed(first)
    watch.attach(settled, {c.name: c.type for c in inferrer.result()})
    return settled

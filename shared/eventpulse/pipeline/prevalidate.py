"""Several small ingestions of one dataset: their row and uniqueness checks in one pass, then each
loaded on its own.

Why: a Great Expectations call costs ~4.5 ms per expectation whatever the frame size, so a
100-event edge batch spent most of its processing time in the gate's one call for its row checks,
and that call runs inside the dataset's lock (``tx.schemas.lock_dataset`` serialises loads of one
dataset). ``process_batch`` first reads each small file of the batch, prepares its rows as its load
will, and validates the row checks of all of them in one joined call (``quality/coalesce.py``),
outside any lock; then each ingestion is processed exactly as alone (claim, drift, gate, load,
state, report, lineage, audit), and its gate recalls the answer for its identical frame.

Only checks that run through GX are joined: under the compiled engine (``EVENTPULSE_GATE_ENGINE``,
``quality/compiled.py``) a contract whose every expectation compiles is not read ahead at all.

Nothing here writes or decides anything: a file whose prepared rows differ inside the load (the
plan changed meanwhile) is simply validated again there, and any error here is left for the load
to meet and record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eventpulse.parse.readers import open_source
from eventpulse.parse.renamed import RenamedSource
from eventpulse.pipeline.holding import DiscardTrace, held_rows_replayed
from eventpulse.pipeline.loading import DeviceBinder, _BatchPreparer
from eventpulse.pipeline.processor import ProcessResult, default_worker_id, plan_load, process_ingestion
from eventpulse.quality.coalesce import remember_many
from eventpulse.quality.gate import QualityGate, needs_gx
from eventpulse.states import CLAIMABLE, Status

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services

log = logging.getLogger(__name__)

SMALL_FILE_BYTES = 1024 * 1024
"""Files up to this size are checked ahead (a 100-event NDJSON batch is ~25 KB)."""


def process_batch(services: Services, ingestion_ids: Sequence[uuid.UUID]) -> list[ProcessResult]:
    """Check the small files' rows together, then process each ingestion on its own, in order."""
    if len(ingestion_ids) > 1:
        prevalidate(services, ingestion_ids)
    return [process_ingestion(services, ingestion_id) for ingestion_id in ingestion_ids]


def prevalidate(services: Services, ingestion_ids: Sequence[uuid.UUID]) -> None:
    """Validate the row checks of the small, claimable files among ``ingestion_ids`` in joined calls."""
    with services.store.read() as tx:
        rows = [tx.ingestions.get(i) for i in ingestion_ids]
    prepared: list[tuple[Any, Any]] = []  # (runner, frame): row checks, uniqueness checks
    for row in rows:
        if (
            row is None
            or Status(row["status"]) not in CLAIMABLE
            or Status(row["status"]) is Status.QUARANTINED
        ):
            continue
        try:
            found = _prepare(services, row)
        except Exception:  # the load reads the same file and records what is wrong with it
            log.debug("checking ingestion %s ahead of its load failed", row["id"], exc_info=True)
            continue
        prepared.extend(found)
    remember_many(prepared)


def _prepare(services: Services, row: Row) -> list[tuple[Any, Any]]:
    """The (runner, frame) pairs of row and uniqueness checks this file's gate will validate.

    Empty when the file is not small or has no such checks.
    """
    if held_rows_replayed(row) is not None:
        return []  # a replay of held rows prepares a selection: leave it to the load
    planned = plan_load(services, row, default_worker_id())
    job = planned.job
    if not needs_gx(job.contract, services.settings.gate_engine):
        return []  # no check of this contract runs through GX (quality/compiled.py): nothing to join
    with services.landing.local_path(str(row["raw_key"])) as path:
        if path.stat().st_size > SMALL_FILE_BYTES:
            return []
        source = RenamedSource.wrap(
            open_source(path, planned.fmt, planned.read_options), job.contract.renames
        )
        gate = QualityGate(job.contract, engine=services.settings.gate_engine)
        binder = DeviceBinder.for_ingestion(row, job.contract)
        trace = DiscardTrace(job.contract)
        preparer = _BatchPreparer(job.decision, job.decision.baseline, gate, trace, None, binder)
        for batch in source.batches():
            gate.feed(preparer.prepare(batch))
            if preparer.rows_seen > gate.chunk_rows:
                return []  # not small after all: the load validates as it streams
    return [found for found in (gate.pending_rows(), gate.pending_unique()) if found is not None]

"""Several small ingestions of one dataset in one pass (pipeline/prevalidate.py, quality/coalesce.py).

Their row checks share one Great Expectations call; each ingestion must still end in its own state
with its own quality report, lineage and audit, exactly as when processed alone. The joining is for
the checks that run through GX: these tests run the gate with ``gate_engine="gx"``; with the
compiled engine (the default) the edge suite makes no GX call at all (the last test).
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.adapters.queue_inline import InlineQueue
from eventpulse.devices.binding import device_source
from eventpulse.landing.register import register_stream
from eventpulse.pipeline.prevalidate import process_batch
from eventpulse.quality import coalesce
from eventpulse.states import Status
from tests.helpers import artifacts


@pytest.fixture(autouse=True)
def _gx_engine(request: pytest.FixtureRequest, services: Any) -> None:
    if "compiled" not in request.node.name:
        services.settings = services.settings.with_overrides(gate_engine="gx")


class _HeldQueue:
    """Keeps deliveries instead of processing them, so the test hands them over as one batch."""

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []

    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        self.ids.append(ingestion_id)


def _batch(device: str, *, rows: int = 100, event_type: str = "reading") -> bytes:
    lines = [
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "device_id": device,
                "event_type": event_type,
                "sensor": "temp_c",
                "value": 20 + k / 10,
                "units": "C",
                "ts": f"2026-12-02T12:{k // 60:02d}:{k % 60:02d}",
                "battery_v": 3.9,
                "firmware_version": "pi-agent/1.4.2",
            }
        )
        for k in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _register(services: Any, device: str, name: str, body: bytes) -> uuid.UUID:
    registration = register_stream(
        services,
        dataset="edge_telemetry",
        filename=name,
        source=device_source(device),
        stream=io.BytesIO(body),
        actor=f"device:{device}",
    )
    return uuid.UUID(str(registration.ingestion["id"]))


def _status(services: Any, ingestion_id: uuid.UUID) -> Any:
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    assert row is not None
    return row


def test_a_batch_of_small_files_loads_each_with_its_own_report_lineage_and_audit(services: Any):
    held = _HeldQueue()
    services.queue = held
    ids = [_register(services, f"dev-{n}", f"b{n}.ndjson", _batch(f"dev-{n}")) for n in range(5)]
    before = coalesce.coalesce_stats()

    results = process_batch(services, held.ids)

    after = coalesce.coalesce_stats()
    assert [r.status for r in results] == [Status.LOADED] * 5
    # one GX call for the five files' row checks, one for their uniqueness checks
    assert after["joined_calls"] - before["joined_calls"] == 2
    assert after["recalled"] - before["recalled"] == 10  # and each load's gate found both answers
    with services.store.engine.connect() as conn:
        per_ingestion = dict(
            conn.execute(
                text("SELECT _ingestion_id::text, count(*) FROM curated_edge_telemetry GROUP BY 1")
            ).all()
        )
    assert per_ingestion == {str(i): 100 for i in ids}
    for n, ingestion_id in enumerate(ids):
        row = _status(services, ingestion_id)
        assert (row["rows_total"], row["rows_loaded"]) == (100, 100)
        report = artifacts(services, ingestion_id)["quality"]
        assert report["passed"] is True and report["rows_evaluated"] == 100
        assert report["device_id"] == f"dev-{n}"
        not_null = next(r for r in report["results"] if r["kwargs"] == {"column": "event_id"})
        assert (not_null["success"], not_null["unexpected_count"], not_null["unexpected_percent"]) == (
            True,
            0,
            0.0,
        )
        lineage = artifacts(services, ingestion_id)["lineage"]
        assert lineage["eventType"] == "COMPLETE" and lineage["run"]["runId"]
        with services.store.read() as tx:
            events, _ = tx.audit.page(entity_id=str(ingestion_id), limit=100)
        moves = [e["details"].get("to") for e in reversed(events) if e["action"] == "ingestion.transition"]
        assert moves == ["PROCESSING", "LOADED"]


def test_a_failing_file_in_the_batch_fails_alone_with_the_same_report_as_alone(services: Any):
    held = _HeldQueue()
    services.queue = held
    good = [_register(services, f"dev-{n}", f"g{n}.ndjson", _batch(f"dev-{n}", rows=20)) for n in range(3)]
    bad = _register(services, "dev-x", "bad.ndjson", _batch("dev-x", rows=20, event_type="bogus"))

    results = process_batch(services, held.ids)

    assert [r.status for r in results] == [Status.LOADED] * 3 + [Status.FAILED_QUALITY]
    report = artifacts(services, bad)["quality"]
    failed = [r for r in report["results"] if not r["success"]]
    assert [(r["expectation_type"], r["unexpected_count"]) for r in failed] == [
        ("expect_column_values_to_be_in_set", 20)
    ]
    assert failed[0]["failing_rows"][:3] == [1, 2, 3]  # source rows of the file itself, not of the batch
    for ingestion_id in good:
        assert artifacts(services, ingestion_id)["quality"]["passed"] is True


def _without_device(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "device_id"}


def test_a_file_in_a_batch_gets_exactly_the_report_it_gets_alone(services: Any):
    held = _HeldQueue()
    services.queue = held
    body = _batch("dev-a", rows=40)
    alone = _register(services, "dev-a", "alone.ndjson", body)
    assert process_batch(services, held.ids)[0].status is Status.LOADED  # a batch of one: no joining
    held.ids.clear()
    # The same events from another device (other keys), in a batch with two more files.
    twin = _register(services, "dev-b", "twin.ndjson", body.replace(b'"dev-a"', b'"dev-b"'))
    others = [_register(services, f"dev-{n}", f"o{n}.ndjson", _batch(f"dev-{n}", rows=40)) for n in range(2)]
    before = coalesce.coalesce_stats()

    results = process_batch(services, [twin, *others])

    assert [r.status for r in results] == [Status.LOADED] * 3
    assert coalesce.coalesce_stats()["joined_calls"] - before["joined_calls"] == 2
    assert _without_device(artifacts(services, twin)["quality"]) == _without_device(
        artifacts(services, alone)["quality"]
    )


def test_a_key_repeated_across_two_files_is_checked_per_file_and_both_load(services: Any):
    held = _HeldQueue()
    services.queue = held
    first = _batch("dev-r", rows=10)
    event = json.loads(first.splitlines()[0])
    again = (json.dumps({**event, "value": 99.0}) + "\n").encode() + _batch("dev-r", rows=9)
    ids = [
        _register(services, "dev-r", "r1.ndjson", first),
        _register(services, "dev-r", "r2.ndjson", again),
    ]
    before = coalesce.coalesce_stats()

    results = process_batch(services, ids)

    # Each file alone has unique keys; the repeat across them is the upsert's to settle.
    assert [r.status for r in results] == [Status.LOADED] * 2
    assert coalesce.coalesce_stats()["fallbacks"] - before["fallbacks"] == 1
    for ingestion_id in ids:
        unique = next(
            r
            for r in artifacts(services, ingestion_id)["quality"]["results"]
            if r["expectation_type"] == "expect_compound_columns_to_be_unique"
        )
        assert (unique["success"], unique["unexpected_count"]) == (True, 0)


def test_joined_uniqueness_answers_each_part_as_gx_does_alone(services: Any):
    import pandas as pd

    from eventpulse.contracts.registry import resolve_contract
    from eventpulse.quality.gx_runner import GxRunner

    contract = resolve_contract(services, "edge_telemetry")
    index = next(
        i for i, e in enumerate(contract.expectations) if e.type == "expect_compound_columns_to_be_unique"
    )
    runner = GxRunner(contract, [index], partial_count=20)

    def part(first: int, n: int, *, no_device: int | None = None, no_event: int | None = None) -> Any:
        devices: list[str | None] = [f"d{first + k}" for k in range(n)]
        events: list[str | None] = [f"e{first + k}" for k in range(n)]
        if no_device is not None:
            devices[no_device] = None
        if no_event is not None:
            devices[no_event] = events[no_event] = None  # both null: GX counts the row missing
        rows = pd.Series(range(1, n + 1), dtype="int64")
        return pd.DataFrame({"device_id": devices, "event_id": events, "_source_row": rows})

    parts = [part(0, 5), part(10, 4, no_device=1), part(20, 3, no_event=0), part(30, 1, no_event=0)]
    requests = [coalesce._Request(frame) for frame in parts]
    coalesce._run_joined(runner, requests)

    for request, frame in zip(requests, parts, strict=True):
        assert request.outcomes == runner.validate(frame)


def test_the_inline_pool_hands_waiting_deliveries_over_in_batches():
    seen: list[list[uuid.UUID]] = []
    queue = InlineQueue(
        lambda i: None,
        background=True,
        workers=1,
        batch_handler=lambda ids: seen.append(list(ids)),
        batch_size=3,
    )
    ids = [uuid.uuid4() for _ in range(7)]
    for ingestion_id in ids:
        queue.enqueue(ingestion_id)
    queue.close()
    assert [i for batch in seen for i in batch] == ids  # each once, in order
    assert all(1 <= len(batch) <= 3 for batch in seen)


def test_compiled_engine_batch_makes_no_gx_call_and_gives_the_gx_report(services: Any):
    held = _HeldQueue()
    services.queue = held
    body = _batch("dev-c", rows=30, event_type="bogus")
    ids = [_register(services, "dev-c", "c.ndjson", body)]
    ids += [_register(services, f"dev-{n}", f"c{n}.ndjson", _batch(f"dev-{n}", rows=30)) for n in range(2)]
    before = coalesce.coalesce_stats()

    results = process_batch(services, ids)

    assert [r.status for r in results] == [Status.FAILED_QUALITY, Status.LOADED, Status.LOADED]
    assert coalesce.coalesce_stats() == before  # nothing went through GX, so nothing was joined
    report = artifacts(services, ids[0])["quality"]
    assert {r["engine"] for r in report["results"]} == {"compiled"}
    failed = [r for r in report["results"] if not r["success"]]
    assert [(r["expectation_type"], r["unexpected_count"], r["unexpected_percent"]) for r in failed] == [
        ("expect_column_values_to_be_in_set", 30, 100.0)
    ]
    assert failed[0]["failing_rows"][:3] == [1, 2, 3]

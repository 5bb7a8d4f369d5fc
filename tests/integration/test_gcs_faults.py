"""The GCS landing through a loopback fault proxy in front of the GCS emulator: answers 503 and slow
answers on the way in (the create-only upload) and out (the worker's download) end in one curated
effect per file, and the retries really met the faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from eventpulse.bootstrap import build_services
from eventpulse.landing.register import register_path
from eventpulse.states import Status
from tests.conftest import reset_database
from tests.e2e.edge_harness import Fault, FaultProxy
from tests.gcs_emulator import gcs_settings
from tests.integration.api_support import edge_csv

FILES = 5


@pytest.fixture
def proxy(gcs_emulator) -> Iterator[FaultProxy]:  # type: ignore[no-untyped-def]
    port = int(gcs_emulator.endpoint.rsplit(":", 1)[1].strip("/"))
    fault_proxy = FaultProxy(port, match="/")
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def faulty_services(settings, gcs_emulator, signer_file, proxy: FaultProxy) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    configured = gcs_settings(settings, gcs_emulator, signer_file).with_overrides(gcs_endpoint=proxy.url)
    svc = build_services(configured)
    reset_database(svc.store.engine)
    yield svc
    svc.close()


def test_503s_and_slow_answers_from_gcs_end_in_one_curated_effect_per_file(
    faulty_services, proxy: FaultProxy, tmp_path
) -> None:
    # Every request of the run meets this plan in order: a 503, a pass, a slow answer, another 503...
    proxy.inject(*([Fault("503"), Fault("pass"), Fault("delay", 0.3), Fault("503"), Fault("pass")] * 12))
    ids = []
    for seed in range(FILES):
        path = edge_csv(tmp_path, seed=300 + seed)
        registration = register_path(
            faulty_services, path=path, dataset="edge_telemetry", source="t", actor="t"
        )
        ids.append(registration.ingestion["id"])
    with faulty_services.store.read() as tx:
        final = [tx.ingestions.get(i) for i in ids]
    assert [r["status"] for r in final] == [Status.LOADED] * FILES, [(r["status"], r["error"]) for r in final]
    assert all(r["attempts"] == 1 for r in final)  # the client's retries absorbed the faults
    met = [kind for kind, _ in proxy.done]
    assert met.count("503") >= FILES, met  # the faults were really met, on uploads and downloads
    paths = {path.split("?")[0] for kind, path in proxy.done if kind == "503"}
    assert any(p.startswith("/download/") for p in paths), paths  # the worker's read met one
    assert any(not p.startswith("/download/") for p in paths), paths  # and so did the landing
    with faulty_services.store.engine.connect() as conn:
        rows, keys = conn.execute(
            text("SELECT count(*), count(DISTINCT (device_id, event_id)) FROM curated_edge_telemetry")
        ).one()
    assert rows == keys == sum(r["rows_loaded"] for r in final)

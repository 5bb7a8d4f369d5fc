"""Device-bound ingest on the real pipeline and Postgres (docs/CONTRACTS.md#device-bound-rows).

A file whose ingestion ``source`` is ``device:<id>`` may only carry that device's rows: absent
``device_id`` values become the sender's, rows naming another device are never loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from eventpulse.devices.binding import ROW_BOUND_EXPECTATION, device_source
from eventpulse.landing.register import register_path
from eventpulse.ports import QuarantineFilter
from eventpulse.states import Status
from tests.helpers import artifacts

DATASET = "probes"


def write_probes_contract(contracts_dir: Path, *, quarantine: bool) -> None:
    """``probes``: keyed by (device_id, event_id); with ``quarantine`` a value check holds rows back."""
    value_check: dict[str, Any] = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "value", "min_value": 0, "max_value": 100, "mostly": 0.5},
    }
    if quarantine:
        value_check["meta"] = {"on_row_failure": "quarantine"}
    suite = {
        "name": DATASET,
        "meta": {
            "eventpulse": {
                "primary_key": ["device_id", "event_id"],
                "columns": {
                    "event_id": {"type": "string", "nullable": False},
                    "device_id": {"type": "string", "nullable": False},
                    "value": "number",
                },
            }
        },
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "event_id"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "device_id"}},
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": ["device_id", "event_id"]},
            },
            value_check,
        ],
    }
    (contracts_dir / f"{DATASET}.json").write_text(json.dumps(suite))


def send(services: Any, tmp_path: Path, device: str, rows: list[tuple[str, str, int]], name: str = "p.csv"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    lines = ["event_id,device_id,value", *(",".join(str(v) for v in r) for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    registration = register_path(
        services, path=path, dataset=DATASET, source=device_source(device), actor=f"device:{device}"
    )
    with services.store.read() as tx:
        row = tx.ingestions.get(registration.ingestion["id"])
    assert row is not None
    return row


def curated(services: Any, table: str = DATASET) -> list[tuple[Any, ...]]:
    with services.store.engine.connect() as conn:
        sql = f'SELECT device_id, event_id, value FROM "curated_{table}" ORDER BY device_id, event_id'
        return [tuple(r) for r in conn.execute(text(sql))]


def test_a_foreign_row_is_quarantined_with_the_reason_and_the_others_load(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    write_probes_contract(contracts_dir, quarantine=True)
    row = send(services, tmp_path, "dev-a", [("e1", "dev-a", 1), ("e2", "dev-b", 2), ("e3", "dev-a", 3)])

    assert row["status"] == Status.PARTIALLY_LOADED
    assert (row["rows_loaded"], row["rows_quarantined"]) == (2, 1)
    assert curated(services) == [("dev-a", "e1", 1), ("dev-a", "e3", 3)]
    with services.store.read() as tx:
        held = tx.quarantine.page(QuarantineFilter(ingestion_id=row["id"]), limit=10)
    assert [(h["source_row"], h["status"]) for h in held] == [(2, "held")]
    with services.store.read() as tx:  # the quarantine knows the sender: filterable per device
        assert len(tx.quarantine.page(QuarantineFilter(device_id="dev-a"), limit=10)) == 1
    assert held[0]["values"] == {"event_id": "e2", "device_id": "dev-b", "value": "2"}
    assert held[0]["failures"] == [
        {"expectation_type": ROW_BOUND_EXPECTATION, "kwargs": {"device_id": "dev-a"}, "severity": "critical"}
    ]


def test_under_fail_file_a_foreign_row_refuses_the_whole_file(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    write_probes_contract(contracts_dir, quarantine=False)
    rows = [("e1", "dev-a", 1), ("e2", "dev-b", 2), ("e3", "dev-c", 3), ("e4", "dev-b", 4)]
    row = send(services, tmp_path, "dev-a", rows)

    assert row["status"] == Status.FAILED_QUALITY
    error = row["error"]
    assert "3 row(s)" in error["message"] and "'dev-b' (2)" in error["message"]
    assert error["details"]["foreign_device_ids"] == {"dev-b": 2, "dev-c": 1}
    with services.store.engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('curated_probes')")).scalar()
        loaded = conn.execute(text("SELECT count(*) FROM curated_probes")).scalar() if exists else 0
    assert loaded == 0  # nothing of the file was loaded


def test_an_absent_device_id_is_bound_to_the_sender(services: Any, contracts_dir: Path, tmp_path: Path):
    write_probes_contract(contracts_dir, quarantine=False)
    path = tmp_path / "p.csv"
    path.write_text("event_id,device_id,value\ne1,,5\ne2,dev-a,6\n")
    registration = register_path(
        services, path=path, dataset=DATASET, source=device_source("dev-a"), actor="device:dev-a"
    )
    with services.store.read() as tx:
        row = tx.ingestions.get(registration.ingestion["id"])
    assert row is not None and row["status"] == Status.LOADED
    assert curated(services) == [("dev-a", "e1", 5), ("dev-a", "e2", 6)]


def test_a_person_upload_is_not_bound(services: Any, contracts_dir: Path, tmp_path: Path):
    write_probes_contract(contracts_dir, quarantine=False)
    path = tmp_path / "p.csv"
    path.write_text("event_id,device_id,value\ne1,dev-a,5\ne2,dev-b,6\n")
    register_path(services, path=path, dataset=DATASET, source="api", actor="ops")
    assert curated(services) == [("dev-a", "e1", 5), ("dev-b", "e2", 6)]


def test_device_b_cannot_overwrite_device_a_event(services: Any, contracts_dir: Path, tmp_path: Path):
    """edge_telemetry is keyed by (device_id, event_id): the same event_id from B is B's own row."""
    event = "0b1e4c1a-5d3e-4c9a-9f7e-2a6c1d3b4e5f"
    header = "event_id,device_id,event_type,sensor,value,units,ts"
    for device, value in (("dev-a", 10), ("dev-b", 99)):
        path = tmp_path / f"{device}.csv"
        path.write_text(f"{header}\n{event},{device},reading,temp,{value},C,2026-01-01T00:00:00\n")
        registration = register_path(
            services, path=path, dataset="edge_telemetry", source=device_source(device), actor=device
        )
        with services.store.read() as tx:
            row = tx.ingestions.get(registration.ingestion["id"])
        assert row is not None and row["status"] == Status.LOADED, row and row.get("error")
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT device_id, value FROM curated_edge_telemetry WHERE event_id = :e ORDER BY device_id"
            ),
            {"e": event},
        ).all()
    assert [tuple(r) for r in rows] == [("dev-a", 10), ("dev-b", 99)]
    done = artifacts(services, row["id"])
    assert done["quality"]["passed"] is True and done["quality"]["device_id"] == "dev-b"
    assert done["lineage"]["run"]["facets"]["eventpulse_device"]["deviceId"] == "dev-b"


def test_an_existing_table_keyed_by_event_id_refuses_the_new_key_clearly(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    """The known weak spot: a PK change on an existing curated table fails the file, with the way out."""
    path = contracts_dir / "edge_telemetry.json"
    new_suite = path.read_text()
    old = json.loads(new_suite)
    old["meta"]["eventpulse"]["primary_key"] = ["event_id"]
    old["expectations"] = [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "event_id"}}
        if e["type"] == "expect_compound_columns_to_be_unique"
        else e
        for e in old["expectations"]
    ]
    path.write_text(json.dumps(old))
    header = "event_id,device_id,event_type,sensor,value,units,ts"
    line = "0b1e4c1a-5d3e-4c9a-9f7e-2a6c1d3b4e5f,dev-a,reading,temp,1,C,2026-01-01T00:00:00"
    first = tmp_path / "a.csv"
    first.write_text(f"{header}\n{line}\n")
    register_path(services, path=first, dataset="edge_telemetry", source="api", actor="ops")
    path.write_text(new_suite)
    second = tmp_path / "b.csv"
    second.write_text(f"{header}\n{line.replace('dev-a', 'dev-b')}\n")
    registration = register_path(services, path=second, dataset="edge_telemetry", source="api", actor="ops")
    with services.store.read() as tx:
        row = tx.ingestions.get(registration.ingestion["id"])
    assert row is not None and row["status"] == Status.FAILED_CONTRACT
    assert "changed from ['event_id'] to ['device_id', 'event_id']" in row["error"]["message"]
    assert "ADD PRIMARY KEY (device_id, event_id)" in row["error"]["hint"]


def test_quality_trends_per_device(services: Any, contracts_dir: Path, tmp_path: Path):
    from eventpulse.api.app import create_app
    from tests.integration.api_support import AUTH

    write_probes_contract(contracts_dir, quarantine=False)
    assert send(services, tmp_path, "dev-a", [("e1", "dev-a", 1)], "a.csv")["status"] == Status.LOADED
    bad = send(services, tmp_path, "dev-b", [("e1", "dev-b", 500), ("e2", "dev-b", 600)], "b.csv")
    assert bad["status"] == Status.FAILED_QUALITY
    client = create_app(services).test_client()

    def value_series(device: str | None) -> dict[str, Any]:
        query = f"?dataset={DATASET}" + (f"&device_id={device}" if device else "")
        response = client.get("/api/quality/trends" + query, headers=AUTH)
        assert response.status_code == 200, response.get_json()
        series = response.get_json()["series"]
        return next(s for s in series if s["expectation_type"] == "expect_column_values_to_be_between")

    assert (value_series("dev-a")["evaluated"], value_series("dev-a")["pass_rate"]) == (1, 1.0)
    assert (value_series("dev-b")["evaluated"], value_series("dev-b")["pass_rate"]) == (1, 0.0)
    assert (value_series(None)["evaluated"], value_series(None)["pass_rate"]) == (2, 0.5)
    window = client.get(f"/api/quality/trends?dataset={DATASET}&device_id=dev-a", headers=AUTH).get_json()
    assert window["window"]["source"] == "device:dev-a"


def test_drift_view_shows_which_device_started_a_new_schema_and_when(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    from eventpulse.api.app import create_app
    from tests.integration.api_support import AUTH

    header = "event_id,device_id,event_type,sensor,value,units,ts"
    line = "{e},{d},reading,temp,1,C,2026-01-01T00:00:00"
    uuids = iter(f"0b1e4c1a-5d3e-4c9a-9f7e-2a6c1d3b4e{i:02d}" for i in range(10))

    def send_edge(device: str, extra: str = "") -> dict[str, Any]:
        path = tmp_path / f"{device}-{len(list(tmp_path.iterdir()))}.csv"
        head, row = header + extra, line.format(e=next(uuids), d=device) + (",lte" if extra else "")
        path.write_text(f"{head}\n{row}\n")
        registration = register_path(
            services, path=path, dataset="edge_telemetry", source=device_source(device), actor=device
        )
        with services.store.read() as tx:
            done = tx.ingestions.get(registration.ingestion["id"])
        assert done is not None and done["status"] == Status.LOADED, done and done.get("error")
        return done

    send_edge("dev-a")
    old = send_edge("dev-b")
    new = send_edge("dev-b", extra=",carrier")
    client = create_app(services).test_client()
    body = client.get("/api/drift/devices?dataset=edge_telemetry", headers=AUTH).get_json()

    assert body["total"] == 3
    listed = [(i["device_id"], i["schema_fingerprint"], i["new_schema"]) for i in body["items"]]
    assert listed == [
        ("dev-a", old["schema_fingerprint"], False),
        ("dev-b", old["schema_fingerprint"], False),
        ("dev-b", new["schema_fingerprint"], True),
    ]
    assert old["schema_fingerprint"] != new["schema_fingerprint"]
    started = body["items"][2]
    assert started["first_seen"] == started["last_seen"] and started["ingestions"] == 1
    query = "?dataset=edge_telemetry&device_id=dev-b&limit=1&offset=1"
    only_b = client.get("/api/drift/devices" + query, headers=AUTH)
    assert only_b.get_json()["total"] == 2
    assert [i["schema_fingerprint"] for i in only_b.get_json()["items"]] == [new["schema_fingerprint"]]


def test_replaying_held_rows_of_a_device_file_never_loads_the_foreign_row(
    services: Any, contracts_dir: Path, tmp_path: Path
):
    """The replay (source quarantine_replay) binds rows to the original sender: the foreign row stays held."""
    from eventpulse.pipeline.quarantine_actions import request_replay

    write_probes_contract(contracts_dir, quarantine=True)
    rows = [("e1", "dev-a", 1), ("e2", "dev-b", 2), ("e3", "dev-a", 500), ("e4", "dev-a", 4)]
    first = send(services, tmp_path, "dev-a", rows)
    assert (first["status"], first["rows_quarantined"]) == (Status.PARTIALLY_LOADED, 2)
    write_probes_contract(contracts_dir, quarantine=True)  # unchanged contract: e3 fails again
    path = contracts_dir / f"{DATASET}.json"
    path.write_text(path.read_text().replace('"max_value": 100', '"max_value": 1000'))  # e3 now passes

    request = request_replay(services, QuarantineFilter(ingestion_id=first["id"]), actor="ops")

    assert request.rows == 2
    assert curated(services) == [("dev-a", "e1", 1), ("dev-a", "e3", 500), ("dev-a", "e4", 4)]
    with services.store.read() as tx:
        held = tx.quarantine.page(QuarantineFilter(ingestion_id=first["id"]), limit=10)
    by_row = {h["source_row"]: h["status"] for h in held}
    assert by_row == {2: "held", 3: "replayed"}

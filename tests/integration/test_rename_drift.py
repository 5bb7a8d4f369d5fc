"""Renames and reorders on the real pipeline: a renamed column is reported as a rename candidate with
its evidence; confirming it in the contract and replaying loads it into the known column, which keeps
its history; a reordered file loads with a warning. Real files, real Postgres, the inline queue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from eventpulse.contracts.edit import with_rename
from eventpulse.landing.register import replay
from eventpulse.states import Status
from tests.helpers import artifacts, ingest, schema_versions
from tests.integration.evolution_support import table_columns, write_contract, write_csv

DATASET = "renames"


def _contract(contracts_dir: Path, **policy: str) -> None:
    write_contract(
        contracts_dir, DATASET, columns={"sale_price": "integer", "city": "string"}, drift_policy=policy
    )


def _prices(start: int, count: int) -> list[int]:
    return [1000 + 10 * (i % 40) for i in range(start, start + count)]  # 40 distinct prices


def _file(path: Path, header: list[str], start: int, count: int) -> Path:
    rows = []
    for i, price in zip(range(start, start + count), _prices(start, count), strict=True):
        values = {"id": f"k{i}", "city": "Denver" if i % 2 else "Boulder"}
        rows.append([values.get(h, str(price)) for h in header])  # the price under any other name
    return write_csv(path, header, rows)


def _curated(services: Any) -> list[tuple[str, int | None, str]]:
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            text(f'SELECT id, sale_price, _ingestion_id::text FROM "curated_{DATASET}" ORDER BY id')
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def test_a_renamed_column_is_reported_with_evidence_then_mapped_and_keeps_its_history(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)  # removed_columns: fail (the default)
    first = ingest(services, _file(tmp_path / "a.csv", ["id", "sale_price", "city"], 0, 60), DATASET)
    assert first["status"] == Status.LOADED, first["error"]

    renamed = ingest(services, _file(tmp_path / "b.csv", ["id", "sale_price_usd", "city"], 60, 30), DATASET)

    assert renamed["status"] == Status.FAILED_DRIFT, renamed["error"]
    drift = artifacts(services, renamed["id"])["drift"]
    assert drift["decided"]["on"] == "header" and renamed["rows_processed"] == 0
    (candidate,) = drift["rename_candidates"]
    assert (candidate["known"], candidate["observed"], candidate["strength"]) == (
        "sale_price",
        "sale_price_usd",
        "strong",
    )
    evidence = candidate["evidence"]
    assert evidence["type"] == {"known": "integer", "observed": "integer", "score": 1.0}
    assert evidence["sample_overlap"]["shared"] == 30  # every price of the new file was seen before
    assert evidence["range"]["known"] == [1000.0, 1390.0]
    error = renamed["error"]
    assert '"renames": {"sale_price_usd": "sale_price"}' in error["hint"]
    assert error["details"]["rename_candidates"][0]["known"] == "sale_price"

    # The user confirms "map as rename": the contract records the mapping, the file is replayed.
    path = contracts_dir / f"{DATASET}.json"
    path.write_text(json.dumps(with_rename(json.loads(path.read_text()), "sale_price_usd", "sale_price")))
    replayed = replay(services, renamed["id"], actor="test")
    with services.store.read() as tx:
        done = tx.ingestions.get(replayed["id"])
    assert done is not None and done["status"] == Status.LOADED, done["error"]

    assert "sale_price_usd" not in (table_columns(services, DATASET) or {})
    rows = _curated(services)
    assert len(rows) == 90
    assert {r[2] for r in rows} == {str(first["id"]), str(done["id"])}
    assert [r[1] for r in rows if r[0] in ("k0", "k59", "k60", "k89")] == [1000, 1190, 1200, 1090]
    assert schema_versions(services, DATASET) == 1  # the rename changed no schema
    assert artifacts(services, done["id"])["drift"]["renamed"] == {"sale_price_usd": "sale_price"}


def test_an_accepted_drop_plus_add_still_reports_the_candidate(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir, removed_columns="evolve", new_columns="evolve")
    ingest(services, _file(tmp_path / "a.csv", ["id", "sale_price", "city"], 0, 40), DATASET)

    row = ingest(services, _file(tmp_path / "b.csv", ["id", "price", "city"], 0, 40), DATASET)

    assert row["status"] == Status.LOADED, row["error"]  # every rule sees a drop plus an add
    drift = artifacts(services, row["id"])["drift"]
    kinds = {(c["kind"], c["column"]) for c in drift["decision"]["changes"]}
    assert kinds == {("column_added", "price"), ("column_removed", "sale_price")}
    (candidate,) = drift["rename_candidates"]
    assert (candidate["known"], candidate["observed"]) == ("sale_price", "price")
    assert drift["rename_candidates_rows_read"] == 40


def test_unrelated_new_and_missing_columns_report_no_candidate(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    ingest(services, _file(tmp_path / "a.csv", ["id", "sale_price", "city"], 0, 40), DATASET)
    path = write_csv(
        tmp_path / "b.csv", ["id", "notes", "city"], [[f"k{i}", f"note {i}!", "x"] for i in range(9)]
    )

    row = ingest(services, path, DATASET)

    assert row["status"] == Status.FAILED_DRIFT
    assert "rename_candidates" not in artifacts(services, row["id"])["drift"]
    assert "may be" not in row["error"]["hint"] and "details" not in row["error"]


def test_a_rename_to_an_unknown_column_fails_the_contract_with_the_known_columns(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    path = contracts_dir / f"{DATASET}.json"
    path.write_text(json.dumps(with_rename(json.loads(path.read_text()), "price", "prize")))

    row = ingest(services, _file(tmp_path / "a.csv", ["id", "price", "city"], 0, 5), DATASET)

    assert row["status"] == Status.FAILED_CONTRACT
    assert "'prize' is not a known column" in row["error"]["message"]
    assert "sale_price" in row["error"]["hint"]


def test_a_reordered_file_loads_with_a_column_order_warning(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    _contract(contracts_dir)
    ingest(services, _file(tmp_path / "a.csv", ["id", "sale_price", "city"], 0, 10), DATASET)

    row = ingest(services, _file(tmp_path / "b.csv", ["city", "id", "sale_price"], 10, 10), DATASET)

    assert row["status"] == Status.LOADED, row["error"]
    (change,) = artifacts(services, row["id"])["drift"]["decision"]["changes"]
    assert (change["kind"], change["mode"], change["breaking"]) == ("column_order", "warn", False)
    assert change["details"]["observed_order"] == ["city", "id", "sale_price"]
    assert [r[1] for r in _curated(services) if r[0] == "k15"] == [1150]


def test_map_rename_through_the_api_saves_the_contract_and_replays(
    services, contracts_dir: Path, tmp_path: Path
) -> None:
    import hashlib

    from eventpulse.api.app import create_app
    from eventpulse.settings import ApiToken

    token = ApiToken(name="root", role="admin", sha256=hashlib.sha256(b"rename-admin").hexdigest())
    services.settings = services.settings.with_overrides(api_tokens=(token,))
    client = create_app(services).test_client()
    admin = {"Authorization": "Bearer rename-admin"}
    _contract(contracts_dir)
    first = ingest(services, _file(tmp_path / "a.csv", ["id", "sale_price", "city"], 0, 60), DATASET)
    renamed = ingest(services, _file(tmp_path / "b.csv", ["id", "sale_price_usd", "city"], 60, 30), DATASET)
    assert (first["status"], renamed["status"]) == (Status.LOADED, Status.FAILED_DRIFT)
    before = client.get(f"/api/contracts/{DATASET}", headers=admin).get_json()["version"]

    unknown = client.post(
        f"/api/ingestions/{renamed['id']}/map_rename",
        json={"from": "price", "to": "sale_price"},
        headers=admin,
    )
    assert unknown.status_code == 400 and unknown.get_json()["error"]["details"]["columns"] == [
        "id",
        "sale_price_usd",
        "city",
    ]
    bad_target = client.post(
        f"/api/ingestions/{renamed['id']}/map_rename",
        json={"from": "sale_price_usd", "to": "nope"},
        headers=admin,
    )
    assert bad_target.status_code == 422, bad_target.get_json()

    response = client.post(
        f"/api/ingestions/{renamed['id']}/map_rename",
        json={"from": "sale_price_usd", "to": "sale_price"},
        headers=admin,
    )
    body = response.get_json()
    assert response.status_code == 202, body
    assert body["previous_version"] == before and body["contract_version"] != before
    assert body["candidate"]["strength"] == "strong" and body["candidate"]["evidence"]["sample_overlap"]
    assert body["replay"]["status"] == "LOADED" and body["replay"]["replay_of"] == str(renamed["id"])
    contract = client.get(f"/api/contracts/{DATASET}", headers=admin).get_json()
    assert contract["suite"]["meta"]["eventpulse"]["renames"] == {"sale_price_usd": "sale_price"}
    assert contract["source"] == "api" and contract["adopted_by"] == "token:root"
    prices = {key: price for key, price, _ in _curated(services)}
    assert len(prices) == 90 and prices["k60"] == _prices(60, 1)[0]  # the new rows in the old column
    assert schema_versions(services, DATASET) == 1

"""A signed-URL intent may declare its header: checked against contract, history and policy first."""

from __future__ import annotations

import pytest

from eventpulse.cloud.signed_url import mint_upload_url
from eventpulse.errors import BadRequest
from eventpulse.landing.register import register_path
from eventpulse.pipeline.intent import HeaderRefused
from eventpulse.states import Status
from tests.gcs_emulator import gcs_settings
from tests.helpers import set_contract_meta
from tests.integration.api_support import edge_csv

BASELINE = (
    "event_id,device_id,event_type,sensor,value,units,ts,lat,lon,battery_v,rssi_dbm,firmware_version,"
    "status,message"
)


@pytest.fixture
def settings(settings, gcs_emulator, signer_file):  # type: ignore[no-untyped-def]
    return gcs_settings(settings, gcs_emulator, signer_file)


def test_a_header_the_policy_rejects_gets_no_url_and_a_422_naming_the_change(services) -> None:
    header = BASELINE.replace("device_id,", "")
    with pytest.raises(HeaderRefused) as refused:
        mint_upload_url(services, dataset="edge_telemetry", filename="r.csv", header=header)
    error = refused.value
    assert error.http_status == 422 and error.code == "schema_drift"
    assert "column 'device_id' is missing" in error.message and "edge_telemetry" in error.message
    assert error.details["header_check"]["outcome"] == "reject"


def test_an_accepted_header_mints_the_url_and_echoes_the_check(services) -> None:
    minted = mint_upload_url(
        services, dataset="edge_telemetry", filename="r.csv", header=BASELINE + ',"Up Time"\r\n'
    )
    assert minted["url"] and minted["method"] == "PUT"
    check = minted["header_check"]
    assert check["outcome"] == "accept" and check["columns"][-1] == "up_time"
    assert [(c["kind"], c["column"], c["mode"]) for c in check["changes"]] == [
        ("column_added", "up_time", "evolve")
    ]
    assert "header_check" not in mint_upload_url(services, dataset="edge_telemetry", filename="r.csv")


def test_columns_declare_the_header_of_a_workbook_and_header_is_only_for_csv(services, contracts_dir) -> None:
    set_contract_meta(contracts_dir, "edge_telemetry", drift_policy={"new_columns": "fail"})
    columns = [*BASELINE.split(","), "owner"]
    with pytest.raises(HeaderRefused, match="column 'owner' is new; the drift policy says new_columns: fail"):
        mint_upload_url(services, dataset="edge_telemetry", filename="r.xlsx", columns=columns)
    minted = mint_upload_url(services, dataset="edge_telemetry", filename="r.xlsx", columns=columns[:-1])
    assert minted["header_check"]["outcome"] == "accept"
    with pytest.raises(BadRequest, match="header is a CSV file's first line") as refused:
        mint_upload_url(services, dataset="edge_telemetry", filename="r.xlsx", header=BASELINE)
    assert '"columns"' in refused.value.hint


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"header": BASELINE, "columns": ["event_id"]}, "not both"),
        ({"columns": []}, "1 to 10000 column names"),
        ({"header": "a b,a-b"}, "both become 'a_b'"),
        ({"header": "x" * (65 * 1024)}, "longer than 64 KiB"),
    ],
)
def test_a_malformed_declaration_is_a_400(services, kwargs, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        mint_upload_url(services, dataset="edge_telemetry", filename="r.csv", **kwargs)


def test_the_check_reads_the_history_a_column_evolution_added_is_required_after(
    services, contracts_dir, tmp_path
) -> None:
    set_contract_meta(contracts_dir, "edge_telemetry", drift_policy={"removed_columns": "fail"})
    assert mint_upload_url(services, dataset="edge_telemetry", filename="r.csv", header=BASELINE)
    evolved = edge_csv(tmp_path, case="add_column")  # adds uptime_s (new_columns: evolve)
    row = register_path(services, path=evolved, dataset="edge_telemetry", source="test", actor="t").ingestion
    with services.store.read() as tx:
        assert tx.ingestions.get(row["id"])["status"] == Status.LOADED.value
    with pytest.raises(HeaderRefused, match="column 'uptime_s' is missing"):
        mint_upload_url(services, dataset="edge_telemetry", filename="r.csv", header=BASELINE)

"""A suite that compiles fully is gated without importing Great Expectations (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eventpulse.contracts.loader import load_contract
from eventpulse.quality.gate import QualityGate
from eventpulse.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import datetime as dt, json, sys
import pyarrow as pa
from pathlib import Path
from eventpulse.contracts.loader import load_contract
from eventpulse.quality.gate import QualityGate, needs_gx, warm_up

contract = load_contract(Path(sys.argv[1]), "edge_telemetry")
warm_up(contract, "compiled")
gate = QualityGate(contract)
rows = 3
batch = pa.record_batch({
    "event_id": ["0b7f6a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "not-a-uuid", None],
    "device_id": ["dev-1", "dev-1", "dev-2"],
    "event_type": ["reading", "heartbeat", "sneeze"],
    "sensor": ["temp", None, None],
    "value": [21.5, None, None],
    "units": ["C", None, None],
    "ts": pa.array(
        [dt.datetime(2024, 1, 1), dt.datetime(1970, 1, 1), dt.datetime(2024, 1, 2)], pa.timestamp("us")
    ),
    "lat": [45.0, 91.0, None],
    "lon": [7.0, 7.0, None],
    "battery_v": [3.7, 3.9, float("nan")],
    "rssi_dbm": pa.array([-70, 5, None], pa.int64()),
    "firmware_version": ["fw/1.2.3", None, None],
    "status": [None, "ok", None],
    "message": [None, None, None],
    "_source_row": pa.array([1, 2, 3], pa.int64()),
})
gate.feed(batch)
empty = QualityGate(contract)
empty.feed(batch.slice(0, 0))
empty_report = empty.finish().to_dict()
report = gate.finish().to_dict()
print(json.dumps({
    "gx_imported": "great_expectations" in sys.modules,
    "needs_gx": needs_gx(contract),
    "empty_failing": sorted(r["expectation_type"] for r in empty_report["results"] if not r["success"]),
    "engines": sorted({r["engine"] for r in report["results"]}),
    "failing": sorted(
        (r["expectation_type"], r["kwargs"].get("column"), r["failing_rows"])
        for r in report["results"]
        if not r["success"]
    ),
}))
"""


def run(contracts_dir: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(contracts_dir)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_edge_telemetry_is_gated_without_importing_gx() -> None:
    found = run(ROOT / "contracts")
    assert found["gx_imported"] is False
    assert found["needs_gx"] is False
    assert found["engines"] == ["compiled"]
    # an empty file too: its mean has nothing to average and it has no row
    assert found["empty_failing"] == [
        "expect_column_mean_to_be_between",
        "expect_table_row_count_to_be_between",
    ]
    assert found["failing"] == [
        ["expect_column_values_to_be_between", "lat", [2]],
        ["expect_column_values_to_be_between", "rssi_dbm", [2]],
        ["expect_column_values_to_be_between", "ts", [2]],
        ["expect_column_values_to_be_in_set", "event_type", [3]],
        ["expect_column_values_to_match_regex", "event_id", [2]],
        ["expect_column_values_to_not_be_null", "event_id", [3]],
    ]


def test_a_suite_with_one_uncompiled_expectation_imports_gx(tmp_path: Path) -> None:
    suite = json.loads((ROOT / "contracts" / "edge_telemetry.json").read_text())
    suite["expectations"].append(
        {"type": "expect_column_median_to_be_between", "kwargs": {"column": "battery_v", "min_value": 0}}
    )
    (tmp_path / "edge_telemetry.json").write_text(json.dumps(suite))
    found = run(tmp_path)
    assert found["gx_imported"] is True
    assert found["needs_gx"] is True
    assert found["engines"] == ["compiled", "gx"]


def test_the_engine_setting_is_read_and_checked() -> None:
    assert Settings.from_mapping({}).gate_engine == "compiled"
    assert Settings.from_mapping({"EVENTPULSE_GATE_ENGINE": "gx"}).gate_engine == "gx"
    with pytest.raises(SettingsError, match="EVENTPULSE_GATE_ENGINE must be compiled or gx"):
        Settings.from_mapping({"EVENTPULSE_GATE_ENGINE": "fast"})
    contract = load_contract(ROOT / "contracts", "parcels")
    assert set(QualityGate(contract, engine="gx").engines.values()) == {"gx"}
    assert set(QualityGate(contract).engines.values()) == {"compiled"}
    with pytest.raises(ValueError, match="unknown gate engine"):
        QualityGate(contract, engine="fast")

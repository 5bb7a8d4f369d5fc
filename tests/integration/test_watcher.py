"""The incoming-folder watcher registers stable files exactly once and archives them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.landing.watcher import Watcher, dataset_for, run_watcher
from tests.integration.api_support import edge_csv


@pytest.fixture
def fast(services):
    services.settings = services.settings.with_overrides(watch_interval_seconds=0.01)
    return services


def registered(services) -> list[dict]:
    with services.store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ingestions))]


def test_a_file_in_a_dataset_folder_is_registered_once_and_archived(fast, tmp_path) -> None:
    incoming = fast.settings.incoming_dir / "edge_telemetry"
    incoming.mkdir(parents=True)
    (incoming / "readings.csv").write_bytes(edge_csv(tmp_path).read_bytes())
    handled = run_watcher(fast, once=True)
    assert len(handled) == 1
    assert not (incoming / "readings.csv").exists()
    assert handled[0].archived_to.is_file() and handled[0].archived_to.name == "readings.csv"
    assert run_watcher(fast, once=True) == []
    rows = registered(fast)
    assert len(rows) == 1 and rows[0]["source"] == "watcher" and rows[0]["dataset"] == "edge_telemetry"


def test_a_file_still_growing_waits_for_the_next_poll(fast, tmp_path) -> None:
    path = fast.settings.incoming_dir / "edge_telemetry" / "growing.csv"
    path.parent.mkdir(parents=True)
    data = edge_csv(tmp_path).read_bytes()
    path.write_bytes(data[:20])
    watcher = Watcher(fast)
    assert watcher.poll() == []  # first sight
    path.write_bytes(data)
    assert watcher.poll() == []  # changed since: still being written
    assert len(watcher.poll()) == 1
    assert registered(fast)[0]["size_bytes"] == len(data)


def test_temp_files_dotfiles_and_unassigned_files_are_left_alone(fast, tmp_path, caplog) -> None:
    incoming = fast.settings.incoming_dir
    (incoming / "edge_telemetry").mkdir(parents=True)
    names = ["edge_telemetry/a.csv.part", "edge_telemetry/.hidden.csv", "edge_telemetry/b.csv~", "loose.csv"]
    for name in names:
        (incoming / name).write_bytes(edge_csv(tmp_path).read_bytes())
    watcher = Watcher(fast)
    for _ in range(4):
        assert watcher.poll() == []
    assert all((incoming / name).exists() for name in names)
    assert registered(fast) == []
    assert len([r for r in caplog.records if "loose.csv" in r.getMessage()]) == 1  # logged once


def test_dataset_rule() -> None:
    assert dataset_for("edge_telemetry/x.csv") == "edge_telemetry"
    assert dataset_for("edge_telemetry/sub/x.csv") == "edge_telemetry"
    assert dataset_for("Parcels__2024-03.xlsx") == "parcels"
    assert dataset_for("parcels_2024.csv") is None
    assert dataset_for("../x.csv") is None
    assert dataset_for("ünï/x.csv") is None
    assert dataset_for("") is None

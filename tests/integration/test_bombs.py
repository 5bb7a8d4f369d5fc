"""Decompression bombs and hostile containers through the real pipeline (real Postgres).

Each file ends FAILED_READ at its first attempt, within seconds, with a reason that names the limit
and the setting that raises it; its raw bytes stay in the landing zone; and the worker that read it
stays small (its peak RSS is measured in a child process). See docs/RELIABILITY.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from eventpulse.landing.register import register_path
from eventpulse.states import Status
from tests.bombs import (
    SHEET,
    billion_laughs,
    header_row,
    repetitive_bomb,
    sheet,
    sparse_bomb,
    understate_sizes,
    write_workbook,
)
from tests.helpers import RecordingQueue, ingest

DATASET = "edge_telemetry"
COLUMNS = ["event_id", "device_id", "event_type", "ts", "value"]
HELPER = Path(__file__).with_name("bomb_worker_helper.py")
SECONDS = 10.0
"""A bomb is refused within this (the unguarded reader spent over 150 s on one)."""


def _ingest_timed(services: Any, path: Path) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    row = ingest(services, path, DATASET)
    return row, time.monotonic() - started


def _assert_refused(services: Any, row: dict[str, Any], path: Path, *phrases: str) -> None:
    """FAILED_READ at the first attempt, the reason says ``phrases``, the exact bytes are kept."""
    assert row["status"] == Status.FAILED_READ, row["error"]
    assert row["attempts"] == 1
    error = row["error"]
    assert error["code"] == "read_error"
    said = f"{error['message']} {error.get('hint', '')}"
    for phrase in phrases:
        assert phrase in said, said
    with services.landing.open(row["raw_key"]) as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(path.read_bytes()).digest()


def test_a_workbook_expanding_to_hundreds_of_mib_is_refused_from_its_zip_directory(
    services, tmp_path
) -> None:
    bomb = repetitive_bomb(tmp_path / "bomb.xlsx", expanded_mib=300, columns=COLUMNS)
    assert bomb.stat().st_size < 2 * 1024**2  # 300 MiB of sheet in under 2 MB
    row, seconds = _ingest_timed(services, bomb)
    _assert_refused(services, row, bomb, "compression ratio limit", "EVENTPULSE_XLSX_MAX_COMPRESSION_RATIO")
    assert seconds < SECONDS


def test_a_sheet_past_the_expanded_size_limit_is_refused_naming_it(services, tmp_path) -> None:
    services.settings = replace(services.settings, xlsx_max_compression_ratio=1e9)
    bomb = repetitive_bomb(tmp_path / "bomb.xlsx", expanded_mib=600, columns=COLUMNS)
    row, seconds = _ingest_timed(services, bomb)
    _assert_refused(services, row, bomb, "expanded XML part size limit", "EVENTPULSE_XLSX_MAX_EXPANDED_BYTES")
    assert "512.0 MiB" in row["error"]["message"] and seconds < SECONDS


def test_a_zip_directory_that_understates_a_sheet_is_refused_by_what_it_really_expands_to(
    services, tmp_path
) -> None:
    services.settings = replace(services.settings, xlsx_max_expanded_bytes=4 * 1024**2)
    rows = [header_row(COLUMNS)] + [b"<row>" + b"<c><v>1</v></c>" * 5 + b"</row>"] * 120_000  # 10 MiB
    liar = understate_sizes(write_workbook(tmp_path / "liar.xlsx", sheet(rows), zip64=False), SHEET, 1000)
    row, _ = _ingest_timed(services, liar)
    _assert_refused(services, row, liar, "expands past", "its zip entry declares 1,000 bytes")


def test_two_far_apart_cells_are_refused_by_the_grid_they_span(services, tmp_path) -> None:
    bomb = sparse_bomb(tmp_path / "sparse.xlsx")  # calamine alone asks for 22 GB and aborts the process
    row, seconds = _ingest_timed(services, bomb)
    _assert_refused(services, row, bomb, "1,000,000 rows × 702 columns", "EVENTPULSE_XLSX_MAX_CELLS")
    assert seconds < SECONDS


def test_a_workbook_declaring_xml_entities_is_refused_at_once(services, tmp_path) -> None:
    bomb = billion_laughs(tmp_path / "laughs.xlsx", COLUMNS)
    row, seconds = _ingest_timed(services, bomb)
    _assert_refused(services, row, bomb, "declares a DTD or XML entities", "billion laughs")
    assert row["error"]["details"]["part"] == SHEET and seconds < SECONDS


def test_a_truncated_workbook_fails_read_saying_it_is_cut(services, tmp_path) -> None:
    good = write_workbook(tmp_path / "whole.xlsx", sheet([header_row(COLUMNS)] * 2000), level=1)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    row, _ = _ingest_timed(services, cut)
    _assert_refused(services, row, cut, "not a readable .xlsx workbook", "truncated")


def _parquet(path: Path, rows: int) -> Path:
    table = pa.table(
        {
            "event_id": [str(uuid.uuid4()) for _ in range(rows)],
            "device_id": ["rpi-01"] * rows,
            "event_type": ["reading"] * rows,
            "ts": ["2025-01-01T00:00:00"] * rows,
            "value": [1.5] * rows,
        }
    )
    pq.write_table(table, path, compression="zstd")
    return path


def test_a_parquet_row_group_declaring_more_than_the_limit_is_refused_from_the_footer(
    services, tmp_path
) -> None:
    services.settings = replace(services.settings, parquet_max_row_group_bytes=1024**2)
    big = _parquet(tmp_path / "big.parquet", 100_000)  # one row group of about 4 MiB uncompressed
    row, _ = _ingest_timed(services, big)
    _assert_refused(
        services, row, big, "Parquet row group size limit", "EVENTPULSE_PARQUET_MAX_ROW_GROUP_BYTES"
    )


def test_a_truncated_parquet_fails_read_saying_its_footer_is_missing(services, tmp_path) -> None:
    whole = _parquet(tmp_path / "whole.parquet", 1000)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[:-100])
    row, _ = _ingest_timed(services, cut)
    _assert_refused(services, row, cut, "does not end with the Parquet footer", "send the whole file")


def test_a_parquet_with_damaged_pages_fails_read_not_exception(services, tmp_path) -> None:
    whole = _parquet(tmp_path / "whole.parquet", 20_000)
    data = bytearray(whole.read_bytes())
    for at in range(200, len(data) // 2, 97):  # scramble the first column's pages, keep the footer
        data[at] ^= 0x5A
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    row, _ = _ingest_timed(services, damaged)
    _assert_refused(services, row, damaged, "not a readable Parquet file")


def test_an_ndjson_line_over_the_record_limit_is_refused_without_reading_it_whole(services, tmp_path) -> None:
    services.settings = replace(services.settings, json_max_record_bytes=64 * 1024)
    path = tmp_path / "long.ndjson"
    record = {"event_id": "a", "device_id": "d", "event_type": "reading", "ts": "2025-01-01T00:00:00"}
    path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "message": "x" * 200_000}) + "\n")
    row, _ = _ingest_timed(services, path)
    _assert_refused(
        services, row, path, "JSON record size limit", "line 2", "EVENTPULSE_JSON_MAX_RECORD_BYTES"
    )


def test_a_json_array_element_over_the_record_limit_is_refused(services, tmp_path) -> None:
    services.settings = replace(services.settings, json_max_record_bytes=64 * 1024)
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"event_id": "a"}, {"event_id": "b", "message": "x" * 3_000_000}]))
    row, _ = _ingest_timed(services, path)
    _assert_refused(services, row, path, "JSON record size limit", "record 2")


def test_a_worker_refusing_bombs_stays_within_its_memory_budget(services, tmp_path) -> None:
    """The unguarded reader reached 1.2-4 GB on such files; a guarded worker stays near its baseline."""
    small = write_workbook(tmp_path / "small.xlsx", sheet([header_row(COLUMNS)]))
    files = [
        small,
        repetitive_bomb(tmp_path / "bomb.xlsx", expanded_mib=300, columns=COLUMNS),
        sparse_bomb(tmp_path / "sparse.xlsx"),
        billion_laughs(tmp_path / "laughs.xlsx", COLUMNS),
    ]
    services.queue = RecordingQueue()  # registered only: the child process reads them
    ids = [
        register_path(services, path=f, dataset=DATASET, source="test", actor="test").ingestion["id"]
        for f in files
    ]
    settings = services.settings
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
    }
    done = subprocess.run(
        [sys.executable, str(HELPER), *map(str, ids)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line["status"] for line in lines[1:]] == ["FAILED_READ"] * 3, lines
    baseline, peak = lines[0]["max_rss_mib"], lines[-1]["max_rss_mib"]
    assert peak - baseline < 100, lines  # the bombs added under 100 MiB to a worker that read a workbook
    assert all(line["seconds"] < SECONDS for line in lines[1:]), lines

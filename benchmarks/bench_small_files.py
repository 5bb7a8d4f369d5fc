"""Small files: 1,000 device batches of 100 rows, processed back to back by one warm worker.

Issue 9 part 3: "1,000 files of 100 rows in a row: at most 50 ms of processing per file on the warm
server, so the edge path can keep up". The setup is the edge benchmark's (``edge_ingest.py``): the real
``eventpulse serve`` and one ``eventpulse worker`` on an RQ queue of the run's own, real Postgres in a
fresh database. After a warm-up batch has been LOADED (imports done), the worker's process group is
stopped (SIGSTOP), the files are uploaded through ``POST /api/edge/ingest/upload``, and the worker is
let go (SIGCONT): the time from then until the last file is LOADED, over the number of files, is the
processing time per file, uploads excluded. Every file must end LOADED with its rows in the curated
table. Anchor, in the same run: one ``psql`` session running one ``\\copy`` per file of the same rows
(as CSV) into a table typed and keyed like the curated one.

Usage: python benchmarks/bench_small_files.py [--files 1000] [--rows 100] [--batch 50]
Loopback only. Writes benchmarks/out/small-files-<UTC>.json; figures in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_ingest import (
    ANCHOR_DDL,
    DEFAULT_URL,
    PENDING,
    BenchError,
    base_env,
    enroll_devices,
    free_port,
    machine,
    psql,
    start_server,
    start_workers,
    stop,
    wait_for_health,
    warm_up,
    with_database,
)

OUT = Path(__file__).resolve().parent / "out"
TARGET_MS = 50.0


def batch_rows(device_id: str, rows: int, stamp: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.uuid4()), "device_id": device_id, "event_type": "reading",
            "sensor": "temp_c", "value": 20.0 + k / 10, "units": "C", "ts": stamp, "lat": 48.137,
            "lon": 11.575, "battery_v": 3.92, "rssi_dbm": -71, "firmware_version": "pi-agent/1.4.2",
        }
        for k in range(rows)
    ]  # fmt: skip


def upload_all(base: str, device: dict[str, str], files: list[list[dict[str, Any]]]) -> float:
    started = time.perf_counter()
    headers = {"X-Device-Id": device["device_id"], "X-Device-Token": device["device_token"]}
    for n, rows in enumerate(files):
        body = "".join(json.dumps(r) + "\n" for r in rows).encode()
        request = urllib.request.Request(
            f"{base}/api/edge/ingest/upload?dataset=edge_telemetry&filename=small-{n:05d}.ndjson",
            data=body,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 202:
                raise BenchError(f"upload {n} answered {response.status}")
    return time.perf_counter() - started


def wait_loaded(db_url: str, timeout_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if int(psql(db_url, f"SELECT count(*) FROM ingestions WHERE status IN {PENDING}")) == 0:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise BenchError(f"files were still waiting after {timeout_s:.0f} s; see the worker log")


def measure_anchor(db_url: str, files: list[list[dict[str, Any]]], work: Path) -> dict[str, Any]:
    """One psql session, one ``\\copy`` per file: what loading each small file alone costs Postgres."""
    columns = ("event_id", "device_id", "event_type", "sensor", "value", "units", "ts", "lat", "lon",
               "battery_v", "rssi_dbm", "firmware_version")  # fmt: skip
    script = work / "anchor.sql"
    with script.open("w") as out:
        for n, rows in enumerate(files):
            path = work / f"anchor-{n:05d}.csv"
            path.write_text("".join(",".join(str(r[c]) for c in columns) + "\n" for r in rows))
            out.write(f"\\copy anchor_edge FROM '{path}' WITH (FORMAT csv)\n")
    psql(db_url, "DROP TABLE IF EXISTS anchor_edge", ANCHOR_DDL)
    started = time.perf_counter()
    psql(db_url, f"\\i {script}")
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "per_file_ms": round(1000 * seconds / len(files), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100, help="rows per file")
    parser.add_argument("--batch", type=int, default=50, help="EVENTPULSE_WORKER_BATCH_SIZE")
    parser.add_argument("--database-url", default=os.environ.get("EVENTPULSE_BENCH_ADMIN_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    # What edge_ingest's helpers read from its own arguments: one worker, at normal priority.
    args.queue, args.rq_workers, args.worker_nice, args.workers, args.users = "rq", 1, 0, 1, 1
    name = f"eventpulse_bench_small_{uuid.uuid4().hex[:8]}"
    args.rq_queue = name
    psql(args.database_url, f'CREATE DATABASE "{name}"')
    db_url = with_database(args.database_url, name)
    work = Path(tempfile.mkdtemp(prefix="eventpulse-small-bench-"))
    port, enroll = free_port(), secrets.token_urlsafe(24)
    base = f"http://127.0.0.1:{port}"
    env = base_env(args, db_url, work, enroll)
    # The files wait on purpose while the worker is stopped: above the intake's backlog limits.
    env["EVENTPULSE_INTAKE_MAX_WAITING"] = env["EVENTPULSE_INTAKE_MAX_WAITING_PER_SOURCE"] = "0"
    server = start_server(args, env, work, port)
    workers = start_workers(args, env, work)
    load_average = os.getloadavg()
    try:
        wait_for_health(base, server)
        (device,) = enroll_devices(base, enroll, 1)
        warm_up(base, device, args.rows, db_url)
        stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
        files = [batch_rows(device["device_id"], args.rows, stamp) for _ in range(args.files)]
        os.killpg(workers[0].pid, signal.SIGSTOP)  # the worker waits while every file is uploaded
        try:
            upload_seconds = upload_all(base, device, files)
        finally:
            os.killpg(workers[0].pid, signal.SIGCONT)
        processing_seconds = wait_loaded(db_url, timeout_s=600)
        measured = "filename LIKE 'small-%'"
        statuses = psql(db_url, f"SELECT status, count(*) FROM ingestions WHERE {measured} GROUP BY 1")
        curated = int(psql(db_url, "SELECT count(*) FROM curated_edge_telemetry"))
        expected = args.files * args.rows + args.rows  # and the warm-up batch
        if statuses != f"LOADED|{args.files}" or curated != expected:
            raise BenchError(f"expected {args.files} LOADED and {expected} rows: {statuses!r}, {curated}")
        anchor = measure_anchor(db_url, files, work)
    finally:
        for process in (*workers, server):
            stop(process)
        psql(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    per_file_ms = 1000 * processing_seconds / args.files
    result = {
        "benchmark": "small_files",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "loadavg_at_start": list(load_average)},
        "config": {"files": args.files, "rows": args.rows, "batch": args.batch, "workers": 1},
        "upload_seconds": round(upload_seconds, 2),
        "processing_seconds": round(processing_seconds, 2),
        "per_file_ms": round(per_file_ms, 2),
        "target_per_file_ms": TARGET_MS,
        "anchor_psql_copy": anchor,
        "ratio_to_anchor": round(per_file_ms / anchor["per_file_ms"], 2),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"small-files-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    verdict = "met" if per_file_ms <= TARGET_MS else "MISSED"
    print(f"{args.files} files of {args.rows} rows: {per_file_ms:.1f} ms of processing per file "
          f"(target <= {TARGET_MS:.0f} ms: {verdict}); psql \\copy per file {anchor['per_file_ms']:.1f} ms, "
          f"ratio {result['ratio_to_anchor']:.1f}; uploads took {upload_seconds:.1f} s")  # fmt: skip
    print(f"result: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Quality gate benchmark: the edge_telemetry suite on 1M rows and on 1,000 files of 100 rows.

Three ways over the same record batches, in the same process and run:

- ``gate``: ``QualityGate(engine="compiled")``, what the pipeline runs (every expectation of this suite
  compiles, so Great Expectations is not involved);
- ``hand``: the anchor, hand-written pyarrow checks of the same suite (counts, the first failing rows,
  the mean, the row count) with no framework around them;
- ``gx``: ``QualityGate(engine="gx")``, every expectation through Great Expectations (the path before
  the compiled engine), imported and warmed up before timing. On small files it runs on the first
  ``--gx-files`` files only and is reported per file.

Usage: python benchmarks/bench_gate.py [--rows N] [--files N] [--file-rows N] [--repeat N] [--gx-files N]
Target (issue 9): the gate at most 1.5x the hand-written checks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bench_ingest import OUT, bench_main

from eventpulse.contracts.loader import load_contract
from eventpulse.contracts.model import Contract
from eventpulse.quality.gate import QualityGate, needs_gx

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5
"""Issue 9: the gate at most 1.5x hand-written vectorized checks of the same suite."""
BATCH_ROWS = 100_000
"""The pipeline's default ``EVENTPULSE_BATCH_ROWS``."""
FAILING = 0.001
"""Share of rows with a warning-level failure (latitude out of range, clock never set)."""


def generate(rows: int, first_row: int, seed: int) -> pa.Table:
    """``rows`` edge_telemetry readings and heartbeats as the pipeline types them, with a few bad values."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2**63, size=(rows, 2), dtype=np.int64).view(np.uint64)
    hexes = [f"{a:016x}{b:016x}" for a, b in raw]
    event_id = [f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}" for h in hexes]
    devices = np.array([f"dev-{n:04d}" for n in range(200)], dtype=object)
    reading = rng.random(rows) < 0.9
    event_type = np.where(reading, "reading", "heartbeat").astype(object)
    sensors = np.array(["temperature", "pressure", "humidity", "battery"], dtype=object)
    units = np.array(["C", "kPa", "%", "V"], dtype=object)
    which = rng.integers(0, 4, rows)
    base = np.datetime64("2026-01-01T00:00:00", "us")
    ts = base + rng.integers(0, 86_400_000_000 * 300, rows).astype("timedelta64[us]")
    bad = rng.random(rows) < FAILING
    ts = np.where(bad, np.datetime64("1970-01-01T00:00:00", "us"), ts)
    lat = np.where(bad, 95.0, rng.uniform(-60, 60, rows))
    table = pa.table(
        {
            "event_id": pa.array(event_id, pa.string()),
            "device_id": pa.array(devices[rng.integers(0, 200, rows)], pa.string()),
            "event_type": pa.array(event_type, pa.string()),
            "sensor": pa.array(np.where(reading, sensors[which], None), pa.string()),
            "value": pa.array(
                np.where(reading, rng.normal(20, 5, rows), np.nan), pa.float64(), from_pandas=True
            ),
            "units": pa.array(np.where(reading, units[which], None), pa.string()),
            "ts": pa.array(ts, pa.timestamp("us")),
            "lat": pa.array(lat, pa.float64()),
            "lon": pa.array(rng.uniform(-170, 170, rows), pa.float64()),
            "battery_v": pa.array(rng.uniform(3.4, 4.2, rows), pa.float64()),
            "rssi_dbm": pa.array(rng.integers(-120, -30, rows), pa.int64()),
            "firmware_version": pa.array(np.full(rows, "edge-fw/2.4.1", dtype=object), pa.string()),
            "status": pa.array(np.where(reading, None, "ok"), pa.string()),
            "message": pa.array([None] * rows, pa.string()),
            "_source_row": pa.array(np.arange(first_row, first_row + rows), pa.int64()),
        }
    )
    return table


def run_gate(contract: Contract, batches: Sequence[pa.RecordBatch], engine: str) -> Any:
    gate = QualityGate(contract, engine=engine)
    for batch in batches:
        gate.feed(batch)
    return gate.finish()


UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def hand_checks(batches: Sequence[pa.RecordBatch], keep: int = 20) -> dict[str, Any]:
    """The edge_telemetry suite written by hand with pyarrow: per check, unexpected count and first rows."""
    found: dict[str, list[Any]] = {}

    def tally(name: str, batch: pa.RecordBatch, bad: Any) -> None:
        bad = pc.fill_null(bad, False)
        count = pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
        entry = found.setdefault(name, [0, []])
        entry[0] += count
        if count and len(entry[1]) < keep:
            entry[1].extend(pc.filter(batch.column("_source_row"), bad).slice(0, keep).to_pylist())

    def outside(values: Any, low: Any, high: Any) -> Any:
        return pc.invert(pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high)))

    low_ts, high_ts = (
        pa.scalar(dt.datetime(2020, 1, 1), pa.timestamp("us")),
        pa.scalar(dt.datetime(2100, 1, 1), pa.timestamp("us")),
    )
    for b in batches:
        col = b.column
        for name in ("event_id", "device_id", "event_type", "ts"):
            tally(f"not_null {name}", b, pc.is_null(col(name)))
        tally("regex event_id", b, pc.invert(pc.match_substring_regex(col("event_id"), UUID)))
        tally(
            "regex device_id",
            b,
            pc.invert(pc.match_substring_regex(col("device_id"), "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")),
        )
        tally(
            "in_set event_type", b, pc.invert(pc.is_in(col("event_type"), pa.array(["reading", "heartbeat"])))
        )
        tally("between ts", b, outside(col("ts"), low_ts, high_ts))
        tally("between lat", b, outside(col("lat"), -90.0, 90.0))
        tally("between lon", b, outside(col("lon"), -180.0, 180.0))
        tally("between battery_v", b, outside(col("battery_v"), 0.0, 6.0))
        tally("between rssi_dbm", b, outside(col("rssi_dbm"), -150, 0))
        tally("regex sensor", b, pc.invert(pc.match_substring_regex(col("sensor"), "^[a-z][a-z0-9_]*$")))
        tally(
            "in_set units",
            b,
            pc.invert(pc.is_in(col("units"), pa.array(["%", "psi", "C", "F", "g", "V", "dBm", "kPa"]))),
        )
        tally(
            "in_set status",
            b,
            pc.invert(pc.is_in(col("status"), pa.array(["ok", "degraded", "error", "offline"]))),
        )
        tally(
            "regex firmware_version",
            b,
            pc.invert(
                pc.match_substring_regex(col("firmware_version"), "^[a-z0-9-]+/[0-9]+\\.[0-9]+\\.[0-9]+$")
            ),
        )
    table = pa.Table.from_batches(batches).select(["device_id", "event_id", "battery_v", "_source_row"])
    counts = table.group_by(["device_id", "event_id"]).aggregate([("_source_row", "count")])
    repeated = counts.filter(pc.greater(counts.column("_source_row_count"), 1))
    found["compound unique"] = [len(repeated), []]
    found["mean battery_v"] = [pc.mean(table.column("battery_v")).as_py(), []]
    found["row count"] = [table.num_rows, []]
    return found


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    contract = load_contract(ROOT / "contracts", "edge_telemetry")
    if needs_gx(contract):
        raise SystemExit("edge_telemetry no longer compiles fully: the benchmark measures the compiled path")
    big = generate(args.rows, 1, seed=1).to_batches(max_chunksize=BATCH_ROWS)
    small = [generate(args.file_rows, 1, seed=100 + n).to_batches() for n in range(args.files)]
    gx_small = small[: args.gx_files]
    load_before = os.getloadavg()

    # Same verdicts: the compiled gate and GX agree on the big file (the differential test does the rest).
    run_gate(contract, small[0], "gx")  # import and warm up Great Expectations outside the timings
    compiled_report = run_gate(contract, big, "compiled").to_dict()
    gx_start = time.perf_counter()
    gx_report = run_gate(contract, big, "gx").to_dict()
    gx_big = time.perf_counter() - gx_start
    agree = [{k: v for k, v in r.items() if k != "engine"} for r in compiled_report["results"]] == [
        {k: v for k, v in r.items() if k != "engine"} for r in gx_report["results"]
    ]

    figures = {
        "big": {
            "gate": timed(lambda: run_gate(contract, big, "compiled"), args.repeat),
            "hand": timed(lambda: hand_checks(big), args.repeat),
            "gx": gx_big,
        },
        "small": {
            "gate": timed(lambda: [run_gate(contract, f, "compiled") for f in small], args.repeat)
            / args.files,
            "hand": timed(lambda: [hand_checks(f) for f in small], args.repeat) / args.files,
            "gx": timed(lambda: [run_gate(contract, f, "gx") for f in gx_small], 1) / len(gx_small),
        },
    }
    return {
        "benchmark": "gate",
        "utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "rows": args.rows,
        "files": args.files,
        "file_rows": args.file_rows,
        "gx_files": len(gx_small),
        "repeat": args.repeat,
        "same_report_as_gx_on_big": agree,
        "failing_results_big": sorted(
            r["kwargs"].get("column", "") for r in compiled_report["results"] if not r["success"]
        ),
        "seconds": figures,
        "ratios": {
            size: {
                "gate_vs_hand": f["gate"] / f["hand"],
                "gx_vs_hand": f["gx"] / f["hand"],
                "gx_vs_gate": f["gx"] / f["gate"],
            }
            for size, f in figures.items()
        },
        "target_gate_vs_hand": TARGET_RATIO,
    }


def print_table(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(f"gate benchmark, edge_telemetry suite, {result['utc']}, load average {machine['loadavg_before']}")
    print(f"same report as GX on the {result['rows']:,}-row file: {result['same_report_as_gx_on_big']}")
    labels = {
        "big": f"{result['rows']:,} rows in {BATCH_ROWS:,}-row batches (s)",
        "small": f"{result['files']:,} files of {result['file_rows']} rows, per file (ms)",
    }
    for size, f in result["seconds"].items():
        scale = 1000 if size == "small" else 1
        r = result["ratios"][size]
        print(f"\n{labels[size]}")
        print(f"  hand-written pyarrow (anchor)  {f['hand'] * scale:9.3f}")
        verdict = "met" if r["gate_vs_hand"] <= TARGET_RATIO else "MISSED"
        print(
            f"  gate, compiled engine          {f['gate'] * scale:9.3f}   {r['gate_vs_hand']:.2f}x hand"
            f"   target <= {result['target_gate_vs_hand']}x  {verdict}"
        )
        print(
            f"  gate, GX engine                {f['gx'] * scale:9.3f}   {r['gx_vs_hand']:.2f}x hand,"
            f" {r['gx_vs_gate']:.1f}x compiled"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--file-rows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the median is kept")
    parser.add_argument("--gx-files", type=int, default=100, help="small files run through GX (slow)")
    return bench_main(argv, parser, run, print_table, "gate")


if __name__ == "__main__":
    sys.exit(main())

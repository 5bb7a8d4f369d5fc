"""Run the benchmarks (all, or some), then print every measured ratio beside its target.

Each benchmark is its own script and writes its own JSON under ``benchmarks/out/``; this runner starts
them one after the other (never two at once: they would time each other), reads back the JSON each
one wrote, and prints one table of figures against the issue targets. The table and the figures are
also written to ``benchmarks/out/bench-<UTC time>.json``.

    python benchmarks/run.py                      # every benchmark (about 35 minutes)
    python benchmarks/run.py ingest upsert        # just these
    python benchmarks/run.py --list               # names, what each measures, the targets it checks

Exit status: 0 when every benchmark ran (a missed target is a figure, not a failure), 1 when one could
not run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


@dataclass(frozen=True)
class Figure:
    """One measured figure against its target (``at_most``: the figure must not exceed it)."""

    name: str
    value: float
    at_most: float
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.value <= self.at_most


Extract = Callable[[dict[str, Any]], list[Figure]]


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: tuple[str, ...]
    writes: str
    """Prefix of the JSON file the script writes under benchmarks/out/."""
    about: str
    extract: Extract


def _ingest(result: dict[str, Any]) -> list[Figure]:
    return [
        Figure("1M-row CSV, one-shot `eventpulse ingest` / psql \\copy", result["ratio_cold"], 2.0),
        Figure("1M-row CSV, warm server / psql \\copy", result["ratio_server"], 1.5),
    ]


def _upsert(result: dict[str, Any]) -> list[Figure]:
    summary = result["summary"]
    return [
        Figure(f"replay into 1M loaded rows, {label} / psql \\copy", summary[key]["median_ratio"], target)
        for key, label, target in (
            ("replay_1pct_changed", "1% changed", 1.2),
            ("replay_all_changed", "every row changed", 2.5),
        )
    ]


def _drift(result: dict[str, Any]) -> list[Figure]:
    return [Figure("rejected 1M-row type change / its valid load", result["ratio_rejected_early"], 0.10)]


def _gate(result: dict[str, Any]) -> list[Figure]:
    target = float(result["target_gate_vs_hand"])
    return [
        Figure(f"quality gate, {size} / hand-written pyarrow", ratios["gate_vs_hand"], target)
        for size, ratios in result["ratios"].items()
    ]


def _edge(result: dict[str, Any]) -> list[Figure]:
    accepted, loaded = result["accepted"], result["loaded"]
    return [
        Figure("edge ingest, request p99", accepted["p99_ms"], 200.0, "ms"),
        Figure("edge ingest, accept->LOADED p95", loaded["accept_to_loaded_p95_s"], 10.0, "s"),
        # At least 1,000 events/s accepted: as an at-most figure, its inverse per 1,000.
        Figure("edge ingest, 1,000 / accepted events per s", 1000 / max(accepted["events_per_s"], 1e-9), 1.0),
    ]


def _small_files(result: dict[str, Any]) -> list[Figure]:
    return [
        Figure("1,000 files of 100 rows, processing per file", result["per_file_ms"], 50.0, "ms"),
    ]


def _scale(result: dict[str, Any]) -> list[Figure]:
    copies = result["copies"]
    return [
        Figure(f"{copies}M-row CSV, peak RSS", result["peak_rss_mb"], 1024.0, "MB"),
        Figure(f"{copies}M-row CSV, time / ({copies} x time at 1M)", result["time_vs_linear"], 1.10),
    ]


def _part(result: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The ``fmt`` result of ``bench_formats.py``: the whole file, or its part of a ``--format all`` run."""
    return result[fmt] if result.get("format") == "all" else result


def _formats(result: dict[str, Any]) -> list[Figure]:
    result = _part(result, "ndjson")
    target = float(result["target_ratio"])
    figures = [
        Figure(
            "1M NDJSON records, one-shot `eventpulse ingest` / psql \\copy of the CSV",
            result["ratio_cold"],
            target,
        )
    ]
    if "ratio_server" in result:
        figures.append(
            Figure("1M NDJSON records, warm server / psql \\copy of the CSV", result["ratio_server"], target)
        )
    return figures


def _xlsx(result: dict[str, Any]) -> list[Figure]:
    result = _part(result, "xlsx")
    rows, ratios = result["file"]["rows"], result["ratios"]
    target = float(result["targets"]["xlsx_vs_fastexcel_at_most"])
    label = f"{rows // 1000}k-row XLSX"
    # The one-shot process against fastexcel's whole process (start and imports in both); the warm
    # server, whose imports are done, against fastexcel's read alone.
    figures = [
        Figure(
            f"{label}, one-shot `eventpulse ingest` / fastexcel process",
            ratios["cold_vs_fastexcel_process"],
            target,
        )
    ]
    if "server_vs_fastexcel_read" in ratios:
        figures.append(
            Figure(f"{label}, warm server / fastexcel bare read", ratios["server_vs_fastexcel_read"], target)
        )
    return figures


def _parquet(result: dict[str, Any]) -> list[Figure]:
    result = _part(result, "parquet")
    rows, ratios = result["file"]["rows"], result["ratios"]
    target = float(result["targets"]["parquet_vs_csv_at_most"])
    label = f"{rows // 1_000_000}M-row Parquet" if rows >= 1_000_000 else f"{rows:,}-row Parquet"
    return [
        Figure(
            f"{label}, {name} / the CSV's (same run, both / \\copy)", ratios[f"parquet_vs_csv_{mode}"], target
        )
        for mode, name in (("cold", "one-shot"), ("server", "warm server"))
        if f"parquet_vs_csv_{mode}" in ratios
    ]


def _dlt(result: dict[str, Any]) -> list[Figure]:
    ratios, targets = result["ratios"], result["targets"]
    return [
        Figure(
            "1M-row CSV merge, one-shot eventpulse / dlt default",
            ratios["eventpulse_cold_vs_dlt_default"],
            targets["eventpulse_cold_vs_dlt_default_at_most"],
        ),
        # dlt's fastest: the faster of its parquet/ADBC and csv COPY paths in the same run.
        Figure(
            f"1M-row CSV merge, one-shot eventpulse / {result['dlt_best'].replace('_', ' ')}",
            ratios["eventpulse_cold_vs_dlt_best"],
            targets["eventpulse_cold_vs_dlt_best_at_most"],
        ),
    ]


BENCHES: tuple[Bench, ...] = (
    Bench(
        "ingest",
        "bench_ingest.py",
        (),
        "ingest-",
        "1M-row parcels CSV end to end, one-shot and warm",
        _ingest,
    ),
    Bench(
        "upsert", "bench_upsert.py", (), "upsert-", "replays into a table holding the same 1M rows", _upsert
    ),
    Bench("drift", "bench_drift_reject.py", (), "drift-reject-", "a rejected 1M-row type change", _drift),
    Bench(
        "gate",
        "bench_gate.py",
        (),
        "gate-",
        "the compiled quality gate, 1M rows and 1,000 small files",
        _gate,
    ),
    Bench("scale", "bench_scale.py", (), "scale-", "the parcels CSV at 1M and 10M rows, one-shot", _scale),
    Bench(
        "small",
        "bench_small_files.py",
        (),
        "small-files-",
        "1,000 device files of 100 rows processed back to back by a warm worker",
        _small_files,
    ),
    Bench(
        "formats",
        "bench_formats.py",
        ("--skip-records",),
        "formats-",
        "1M parcels records as NDJSON end to end, one-shot and warm, vs psql \\copy of the CSV",
        _formats,
    ),
    Bench(
        "xlsx",
        "bench_formats.py",
        ("--format", "xlsx"),
        "formats-xlsx-",
        "100k parcels rows as XLSX end to end, one-shot and warm, vs fastexcel's bare read",
        _xlsx,
    ),
    Bench(
        "parquet",
        "bench_formats.py",
        ("--format", "parquet"),
        "formats-parquet-",
        "1M parcels rows as Parquet and as CSV end to end in one run, one-shot and warm",
        _parquet,
    ),
    Bench(
        "dlt",
        "bench_dlt.py",
        (),
        "dlt-",
        "the same 1M-row CSV merged by dlt (default, parquet/ADBC) and by eventpulse",
        _dlt,
    ),
    Bench(
        "edge",
        "edge_ingest.py",
        (),
        "edge_ingest_",
        "20 devices for 60 s through the edge upload route",
        _edge,
    ),
)


def newest(prefix: str, since: float) -> Path | None:
    """The newest ``benchmarks/out/<prefix>*.json`` written after ``since`` (None if none was)."""
    found = [p for p in OUT.glob(f"{prefix}*.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_one(bench: Bench) -> tuple[list[Figure], str | None, Path | None]:
    """Run one benchmark to its end; its figures, or an error saying what went wrong."""
    started = time.time()
    command = [sys.executable, str(HERE / bench.script), *bench.args]
    print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, cwd=HERE.parent, env=os.environ.copy(), check=False)
    if done.returncode != 0:
        return [], f"exited with {done.returncode}", None
    written = newest(bench.writes, started)
    if written is None:
        return [], f"wrote no benchmarks/out/{bench.writes}*.json", None
    try:
        return bench.extract(json.loads(written.read_text())), None, written
    except (KeyError, TypeError, ValueError) as exc:
        return [], f"{written.name} has no figure the runner knows: {exc!r}", written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    by_name = {b.name: b for b in BENCHES}
    if args.list:
        for bench in BENCHES:
            print(f"{bench.name:<8} {bench.about} (benchmarks/{bench.script})")
        return 0
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.names] if args.names else list(BENCHES)
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"utc": datetime.now(UTC).isoformat(timespec="seconds"), "benchmarks": {}}
    failed = False
    for bench in chosen:
        figures, error, written = run_one(bench)
        failed |= error is not None
        report["benchmarks"][bench.name] = {
            "result": str(written.relative_to(HERE.parent)) if written else None,
            "error": error,
            "figures": [{**f.__dict__, "met": f.met} for f in figures],
        }
    report["load_average_at_end"] = list(os.getloadavg())
    print_report(report)
    target = OUT / f"bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresult: {target}")
    return 1 if failed else 0


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{'figure':<62} {'measured':>10} {'target':>10}  verdict")
    for name, entry in report["benchmarks"].items():
        if entry["error"]:
            print(f"{name + ': did not run':<62} {'':>10} {'':>10}  {entry['error']}")
        for f in entry["figures"]:
            verdict = "met" if f["met"] else "MISSED"
            print(f"{f['name']:<62} {f['value']:>9.2f}{f['unit']} {'<= ' + str(f['at_most']):>10}  {verdict}")
    met = [f["met"] for e in report["benchmarks"].values() for f in e["figures"]]
    if met:
        print(f"\n{sum(met)} of {len(met)} targets met ({statistics.mean(met) * 100:.0f}%)")


if __name__ == "__main__":
    raise SystemExit(main())

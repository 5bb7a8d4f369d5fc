"""Cold import time of each cloud function: a new process importing ``functions/<name>/main.py``.

Two figures per function, each the median of ``--repeat`` fresh processes (wall clock, interpreter start
excluded by subtracting a bare ``python -c pass``):

- ``import main``: the cold import, what the platform pays before the first request can be routed;
- ``first request``: also the modules that function's first request imports (settings, the engine and
  the GCS landing for all; the Cloud Tasks client only where it enqueues; the processor only where it
  processes), i.e. the whole cold start short of network connections.

Target (issue 3, on ``import main``): at most 0.5 s for the functions that do not validate data
(signed_url, gcs_finalize). The first-request figure is reported beside it. For every function the
heaviest imports (``python -X importtime``, cumulative) are listed. Prints a table and writes
``benchmarks/out/cold-import-<UTC time>.json``.

    .venv/bin/python benchmarks/bench_cold_import.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
OUT = ROOT / "benchmarks" / "out"
TARGET_SECONDS = 0.5
VALIDATES = {"process_task", "api"}
"""Functions that run the quality gate (Great Expectations may load); the target does not apply."""
SERVICES = "import eventpulse.bootstrap, eventpulse.adapters.postgres.store, eventpulse.adapters.landing_gcs"
"""What the first ``get_services()`` imports in the cloud: settings, the engine, the GCS landing."""
FIRST_REQUEST = {
    "signed_url": SERVICES,  # mints URLs: never enqueues, never processes
    "gcs_finalize": SERVICES + ", eventpulse.adapters.queue_cloud_tasks",  # registers and enqueues
    "process_task": SERVICES + ", eventpulse.pipeline.processor",  # processes (GX loads on first gate)
    "api": SERVICES + ", eventpulse.adapters.queue_cloud_tasks, eventpulse.api.app",
    "edge_enroll": SERVICES + ", eventpulse.adapters.postgres.devices",  # the registry; never enqueues
    "edge_ingest": SERVICES + ", eventpulse.adapters.postgres.devices, eventpulse.adapters.queue_cloud_tasks",
}
"""Modules each function's first request imports beyond ``import main`` (the queue client and the
processor are imported only by the functions that use them)."""
IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")


def _run(code: str, cwd: Path, *, importtime: bool = False) -> tuple[float, str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{code!r} failed in {cwd}:\n{done.stderr[-2000:]}")
    return elapsed, done.stderr


def _median(code: str, cwd: Path, repeat: int, baseline: float) -> float:
    return statistics.median(max(0.0, _run(code, cwd)[0] - baseline) for _ in range(repeat))


def heaviest(code: str, cwd: Path, top: int = 8) -> list[tuple[str, float]]:
    """The libraries that cost most (cumulative seconds of each package's first import, -X importtime)."""
    _, stderr = _run(code, cwd, importtime=True)
    cost: dict[str, float] = {}
    for line in stderr.splitlines():
        found = IMPORTTIME.match(line)
        if not found or found.group(4) == "main" or found.group(4).startswith("eventpulse"):
            continue
        parts = found.group(4).split(".")
        package = ".".join(
            parts[:3]
            if parts[:2] == ["google", "cloud"]
            else parts[:2]
            if parts[0] == "eventpulse"
            else parts[:1]
        )
        cost[package] = max(cost.get(package, 0.0), int(found.group(2)) / 1e6)
    return sorted(cost.items(), key=lambda r: r[1], reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    names = sorted(p.name for p in FUNCTIONS.iterdir() if (p / "main.py").is_file())
    _run("import main", FUNCTIONS / names[0])  # warm the bytecode cache: a deploy ships .pyc-less sources,
    for name in names:  # but the platform compiles once per instance image, not per cold start
        _run(f"import main; {FIRST_REQUEST[name]}", FUNCTIONS / name)
    baseline = statistics.median(_run("pass", ROOT)[0] for _ in range(args.repeat))
    results: list[dict[str, Any]] = []
    for name in names:
        cwd = FUNCTIONS / name
        main_s = _median("import main", cwd, args.repeat, baseline)
        first_s = _median(f"import main; {FIRST_REQUEST[name]}", cwd, args.repeat, baseline)
        target = None if name in VALIDATES else TARGET_SECONDS
        results.append(
            {
                "function": name,
                "import_main_s": round(main_s, 3),
                "first_request_s": round(first_s, 3),
                "target_s": target,
                "meets_target": None if target is None else main_s <= target,
                "heaviest": [
                    {"module": m, "cumulative_s": round(s, 3)}
                    for m, s in heaviest(f"import main; {FIRST_REQUEST[name]}", cwd)
                ],
            }
        )
    print(
        f"{'function':<14} {'import main':>12} {'first request':>14} {'target':>7}  verdict (on import main)"
    )
    for r in results:
        shown = "-" if r["target_s"] is None else f"{r['target_s']:.1f}s"
        verdict = "n/a (validates)" if r["meets_target"] is None else ("ok" if r["meets_target"] else "OVER")
        times = f"{r['import_main_s']:>11.3f}s {r['first_request_s']:>13.3f}s"
        print(f"{r['function']:<14} {times} {shown:>7}  {verdict}")
    for r in results:
        heavy = ", ".join(f"{h['module']} {h['cumulative_s']:.2f}s" for h in r["heaviest"][:5])
        print(f"  {r['function']}: {heavy}")
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = OUT / f"cold-import-{stamp}.json"
    meta = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "repeat": args.repeat, "at": stamp}
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

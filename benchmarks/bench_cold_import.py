"""Cold import time of each cloud function: a new process importing ``functions/<name>/main.py``.

Two figures per function, each the median of ``--repeat`` fresh processes (wall clock, interpreter start
excluded by subtracting a bare ``python -c pass``):

- ``import main``: what the platform pays before the first request can be routed;
- ``+ services``: also the modules the first ``get_services()`` imports (``build_services`` with the GCS
  landing and the Cloud Tasks queue), i.e. the whole cold start short of network connections;
- ``(processor lazy)``: the same if ``build_services`` imported the pipeline processor only when the
  inline queue first runs it (the functions that do not process never would).

Target (on ``+ services``): at most 0.5 s for the functions that do not validate data (signed_url,
gcs_finalize). For every function the heaviest imports (``python -X importtime``, cumulative) are
listed. Prints a table and writes ``benchmarks/out/cold-import-<UTC time>.json``.

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
SERVICES_LAZY = (
    "import eventpulse.bootstrap, eventpulse.adapters.landing_gcs, eventpulse.adapters.queue_cloud_tasks"
)
"""What ``build_services`` imports in the cloud (GCS landing, Cloud Tasks queue) besides the processor."""
SERVICES_IMPORT = SERVICES_LAZY + ", eventpulse.pipeline.processor"
"""... and today ``build_services`` also imports the processor (pyarrow, numpy) eagerly."""
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
        _run(f"import main; {SERVICES_IMPORT}", FUNCTIONS / name)
    baseline = statistics.median(_run("pass", ROOT)[0] for _ in range(args.repeat))
    results: list[dict[str, Any]] = []
    for name in names:
        cwd = FUNCTIONS / name
        main_s = _median("import main", cwd, args.repeat, baseline)
        full_s = _median(f"import main; {SERVICES_IMPORT}", cwd, args.repeat, baseline)
        lazy_s = _median(f"import main; {SERVICES_LAZY}", cwd, args.repeat, baseline)
        target = None if name in VALIDATES else TARGET_SECONDS
        results.append(
            {
                "function": name,
                "import_main_s": round(main_s, 3),
                "with_services_s": round(full_s, 3),
                "with_services_processor_lazy_s": round(lazy_s, 3),
                "target_s": target,
                "meets_target": None if target is None else full_s <= target,
                "heaviest": [
                    {"module": m, "cumulative_s": round(s, 3)}
                    for m, s in heaviest(f"import main; {SERVICES_IMPORT}", cwd)
                ],
            }
        )
    print(f"{'function':<14} {'import main':>12} {'+ services':>11} {'(lazy)':>8} {'target':>7}  verdict")
    for r in results:
        shown = "-" if r["target_s"] is None else f"{r['target_s']:.1f}s"
        verdict = "n/a (validates)" if r["meets_target"] is None else ("ok" if r["meets_target"] else "OVER")
        times = f"{r['import_main_s']:>11.3f}s {r['with_services_s']:>10.3f}s"
        print(
            f"{r['function']:<14} {times} {r['with_services_processor_lazy_s']:>7.3f}s {shown:>7}  {verdict}"
        )
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

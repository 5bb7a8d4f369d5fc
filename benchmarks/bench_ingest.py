"""Ingest benchmark: EventPulse end to end against the ``psql \\copy`` anchor, on the same 1M-row file.

Usage: python benchmarks/bench_ingest.py [--rows N] [--database-url URL] [--skip-eventpulse]
See benchmarks/README.md for what is measured and how to read the result.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

from eventpulse.demo.generator import MAX_ROWS, write_case

OUT = Path(__file__).resolve().parent / "out"
BENCH_DB = os.environ.get("EVENTPULSE_BENCH_DB", "eventpulse_bench")
"""The scratch database the ingest-family benchmarks drop and recreate (``EVENTPULSE_BENCH_DB`` names
another one, so two benchmark runs on one server never drop each other's)."""
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# Typed like the curated table is expected to be; the primary key is part of the anchor's cost.
ANCHOR_DDL = """
CREATE TABLE anchor_parcels (
  parcel_id text PRIMARY KEY, county text, situs_address text, city text, state text, zip text,
  lat double precision, lon double precision, sale_date date, recording_date date,
  sale_price numeric(14, 2), deed_type text, doc_number text, book text, page text, grantor text,
  grantee text, year_built integer, bedrooms integer, bathrooms numeric(4, 1), building_sqft integer,
  lot_sqft integer, assessed_value numeric(14, 2), land_use text, updated_at timestamptz
)
"""


class BenchError(RuntimeError):
    """A precondition or step failed; the message says what to do."""


def with_database(url: str, name: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def ensure_psql() -> str:
    psql = shutil.which("psql")
    if psql is None:
        raise BenchError("psql not found on PATH: install the PostgreSQL client (postgresql-client)")
    return psql


def run_psql(psql: str, url: str, *commands: str) -> str:
    args = [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url]
    for command in commands:
        args += ["-c", command]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PGTZ": "UTC"})
    if done.returncode != 0:
        raise BenchError(f"psql failed on {url}: {done.stderr.strip()}")
    return done.stdout.strip()


def fresh_database(psql: str, admin_url: str) -> None:
    """Drop and create the scratch database ``BENCH_DB``: every step of a benchmark starts empty."""
    run_psql(
        psql, admin_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", f"CREATE DATABASE {BENCH_DB}"
    )


def ensure_file(rows: int) -> tuple[Path, float | None]:
    """The cached parcels baseline CSV of ``rows`` rows, and the seconds it took if generated now."""
    path = OUT / f"parcels_{rows}.csv"
    if path.exists():
        return path, None
    started = time.perf_counter()
    generated = write_case("parcels", "baseline", "csv", OUT / "tmp", rows=rows)
    seconds = time.perf_counter() - started
    generated.replace(path)
    generated.parent.rmdir()
    return path, seconds


def measure_anchor(psql: str, admin_url: str, file: Path) -> dict[str, Any]:
    bench_url = with_database(admin_url, BENCH_DB)
    run_psql(psql, bench_url, "DROP TABLE IF EXISTS anchor_parcels", ANCHOR_DDL)
    started = time.perf_counter()
    run_psql(psql, bench_url, f"\\copy anchor_parcels FROM '{file}' WITH (FORMAT csv, HEADER true)")
    seconds = time.perf_counter() - started
    count = int(run_psql(psql, bench_url, "SELECT count(*) FROM anchor_parcels"))
    run_psql(psql, bench_url, "DROP TABLE anchor_parcels")
    return {"seconds": round(seconds, 3), "rows": count}


def eventpulse_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("eventpulse")
    found = shutil.which("eventpulse") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise BenchError("the eventpulse CLI is not installed: run `pip install -e .` in the checkout")
    return [found]


def run_with_peak_rss(args: list[str], env: dict[str, str], timeout: float) -> tuple[int, float, float]:
    """Run ``args``; return (exit code, seconds, peak RSS in MB of the process tree, polled)."""
    started = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tree = psutil.Process(child.pid)
    peak = 0
    deadline = time.monotonic() + timeout
    while child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            raise BenchError(f"eventpulse ingest did not finish within {timeout:g}s")
        try:
            procs = [tree, *tree.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass  # the child exited between poll() and the read
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    output = child.stdout.read() if child.stdout else ""
    print(output.rstrip()[-2000:], file=sys.stderr)
    return child.returncode, seconds, peak / 2**20


def ingest_env(admin_url: str, database: str, data_dir: str) -> dict[str, str]:
    """The environment of a one-shot ``eventpulse ingest`` on ``database`` with its own data dir."""
    return {
        **os.environ,
        "DATABASE_URL": with_database(admin_url, database, scheme="postgresql+pg8000"),
        "EVENTPULSE_DATA_DIR": data_dir,
        "EVENTPULSE_AUTH_DISABLED": "true",
    }


def one_shot_ingest(env: dict[str, str], file: Path) -> tuple[float, float]:
    """``eventpulse ingest FILE --wait`` in a process of its own: (seconds, peak RSS MB).

    Raises BenchError unless the ingestion ended LOADED.
    """
    args = [*eventpulse_command(), "ingest", str(file), "--dataset", "parcels", "--wait", "--local"]
    code, seconds, peak_mb = run_with_peak_rss(args, env, timeout=3600)
    if code != 0:
        raise BenchError(f"`{' '.join(args)}` exited {code} (0 means LOADED); see its output above")
    return seconds, peak_mb


def measure_eventpulse(psql: str, admin_url: str, file: Path, rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="eventpulse-bench-") as data_dir:
        seconds, peak_mb = one_shot_ingest(ingest_env(admin_url, BENCH_DB, data_dir), file)
    # ru_maxrss is the largest single child so far (kB on Linux): a cross-check of the polled figure.
    child_max_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    count = int(run_psql(psql, with_database(admin_url, BENCH_DB), "SELECT count(*) FROM curated_parcels"))
    if count != rows:
        raise BenchError(f"curated_parcels holds {count:,} rows after the ingestion, expected {rows:,}")
    return {
        "seconds": round(seconds, 3),
        "rows": count,
        "peak_rss_mb": round(peak_mb, 1),
        "max_child_rss_mb": round(child_max_mb, 1),
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, timeout: float = 3600) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/octet-stream")
    if isinstance(body, io.BufferedReader):
        request.add_header("Content-Length", str(os.fstat(body.fileno()).st_size))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return dict(json.loads(response.read()))


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{what} did not happen within {timeout:g}s")


def measure_warm_server(psql: str, admin_url: str, file: Path, rows: int) -> dict[str, Any]:
    """Upload to a running ``eventpulse serve`` (imports done, a first file processed) and time it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="eventpulse-bench-") as data_dir:
        env = {
            **os.environ,
            "DATABASE_URL": with_database(admin_url, BENCH_DB, scheme="postgresql+pg8000"),
            "EVENTPULSE_DATA_DIR": data_dir,
            "EVENTPULSE_AUTH_DISABLED": "true",
            "EVENTPULSE_HTTP_PORT": str(port),
            "EVENTPULSE_RECLAIM_INTERVAL_SECONDS": "0",
        }
        log = open(Path(data_dir) / "serve.log", "w")
        server = subprocess.Popen([*eventpulse_command(), "serve"], env=env, stdout=log, stderr=log)
        try:
            wait_until(lambda: http("GET", f"{base}/readyz").get("status") == "ready", 120, "server start")
            warm = write_case("edge_telemetry", "baseline", "csv", Path(data_dir), rows=50)
            with warm.open("rb") as fh:
                first = http("POST", f"{base}/api/ingest/upload?dataset=edge_telemetry&filename=warm.csv", fh)
            wait_until(lambda: _status(base, first["id"]) == "LOADED", 120, "the warm-up ingestion")
            process = psutil.Process(server.pid)
            peak = 0
            started = time.perf_counter()
            with file.open("rb") as fh:
                created = http("POST", f"{base}/api/ingest/upload?dataset=parcels&filename={file.name}", fh)
            upload_seconds = time.perf_counter() - started
            while (status := _status(base, created["id"])) in ("RECEIVED", "PROCESSING"):
                peak = max(peak, process.memory_info().rss)
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            detail = http("GET", f"{base}/api/ingestions/{created['id']}")
            timings = detail.get("artifacts", {}).get("load", {}).get("timings")
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    if status != "LOADED":
        raise BenchError(f"the server ended the ingestion {status}; see its log")
    count = int(run_psql(psql, with_database(admin_url, BENCH_DB), "SELECT count(*) FROM curated_parcels"))
    if count != rows:
        raise BenchError(f"curated_parcels holds {count:,} rows after the ingestion, expected {rows:,}")
    return {
        "seconds": round(seconds, 3),
        "upload_seconds": round(upload_seconds, 3),
        "timings": timings,
        "rows": count,
        "peak_rss_mb": round(peak / 2**20, 1),
    }


def _status(base: str, ingestion_id: str) -> str:
    return str(http("GET", f"{base}/api/ingestions/{ingestion_id}")["status"])


def describe_machine(psql: str, admin_url: str) -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "postgres": run_psql(psql, admin_url, "SHOW server_version"),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def print_steps(result: dict[str, Any], labels: dict[str, str], width: int = 40) -> None:
    """One line per timed step of ``result`` that ``labels`` names: seconds, rows, peak RSS."""
    line = f"{{:<{width}}} {{:>9}} {{:>11}} {{:>12}}"
    print()
    print(line.format("step", "seconds", "rows", "peak RSS MB"))
    for key, label in labels.items():
        if key in result:
            step = result[key]
            rss = f"{step['peak_rss_mb']:.0f}" if "peak_rss_mb" in step else "-"
            print(line.format(label, f"{step['seconds']:.2f}", f"{step['rows']:,}", rss))


def print_table(result: dict[str, Any]) -> None:
    labels = {
        "anchor_copy": "psql \\copy, typed table + PK",
        "anchor_copy_after": "psql \\copy again, after the runs",
        "eventpulse": "eventpulse ingest --wait (cold process)",
        "eventpulse_server": "eventpulse serve: upload -> LOADED",
    }
    print_steps(result, labels)
    for key in ("ratio_cold", "ratio_server"):
        if key in result:
            print(f"{key} (eventpulse / mean copy) = {result[key]:.2f}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="parcels rows (default 1,000,000)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    parser.add_argument("--skip-eventpulse", action="store_true", help="measure the psql anchor only")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.rows <= MAX_ROWS:
        raise BenchError(f"--rows must be between 1 and {MAX_ROWS:,}")
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    file, generation_seconds = ensure_file(args.rows)
    result: dict[str, Any] = {
        "machine": describe_machine(psql, args.database_url),
        "file": {"path": str(file), "rows": args.rows, "mb": round(file.stat().st_size / 1e6, 1)},
        "generation_seconds": None if generation_seconds is None else round(generation_seconds, 2),
    }
    fresh_database(psql, args.database_url)
    try:
        result["anchor_copy"] = measure_anchor(psql, args.database_url, file)
        if not args.skip_eventpulse:
            result["eventpulse"] = measure_eventpulse(psql, args.database_url, file, args.rows)
            fresh_database(psql, args.database_url)
            result["eventpulse_server"] = measure_warm_server(psql, args.database_url, file, args.rows)
            result["anchor_copy_after"] = measure_anchor(psql, args.database_url, file)
            copy = (result["anchor_copy"]["seconds"] + result["anchor_copy_after"]["seconds"]) / 2
            result["ratio_cold"] = round(result["eventpulse"]["seconds"] / copy, 2)
            result["ratio_server"] = round(result["eventpulse_server"]["seconds"] / copy, 2)
    finally:
        run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    return result


def bench_main(
    argv: list[str] | None,
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    print_table: Callable[[dict[str, Any]], None],
    name: str,
) -> int:
    """Parse, run, print the table and write ``benchmarks/out/<name>-<UTC time>.json``; 1 on BenchError."""
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_table(result)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    target = OUT / f"{name}-{stamp}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "ingest")


if __name__ == "__main__":
    raise SystemExit(main())

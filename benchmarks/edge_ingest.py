"""Edge ingest benchmark: sustained authenticated device uploads against loopback, with locust.

Starts the real server (``eventpulse serve`` on 127.0.0.1, real Postgres in a fresh database) and,
by default, the production-like local setup: the RQ queue on Redis (127.0.0.1:6379, a queue of its
own per run) served by separate ``eventpulse worker`` processes with the batch pass
(``EVENTPULSE_WORKER_BATCH_SIZE``); ``--queue inline`` processes in the server instead. It enrolls
the devices, runs locust headless against ``POST /api/edge/ingest/upload`` with each device's own
token, samples the backlog while it runs, then waits (bounded) for every accepted ingestion to
settle and reads accept->LOADED latencies and the curated row count from the database. Anchor, in
the same run: ``psql \\copy`` of the same number of events, as one CSV file, into a table typed
like the curated one.

Usage: python benchmarks/edge_ingest.py [--users 20] [--duration 60] [--rate 0.55] [--lockstep]
       [--queue rq|inline] [--rq-workers 2] [--worker-nice 10] [--batch 50] [--profile worker|server]
       [--database-url URL]
Loopback only: every address it talks to is 127.0.0.1. Figures: docs/BENCHMARKS.md#edge-ingest.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
BIN = Path(sys.executable).parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SETTLE_TIMEOUT_S = 300.0
PENDING = "('RECEIVED','PROCESSING','FAILED_EXCEPTION')"
MEASURED = "filename NOT LIKE 'warmup-%'"
"""The warm-up batch (sent before the load, so the figures are of a warm server) is not measured."""

ANCHOR_DDL = """
CREATE TABLE anchor_edge (
  event_id text NOT NULL, device_id text NOT NULL, event_type text NOT NULL, sensor text,
  value double precision, units text, ts timestamp NOT NULL, lat double precision,
  lon double precision, battery_v double precision, rssi_dbm integer, firmware_version text,
  PRIMARY KEY (device_id, event_id)
)
"""


class BenchError(RuntimeError):
    """A precondition or step failed; the message says what to do."""


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def psql(url: str, *commands: str) -> str:
    exe = shutil.which("psql")
    if exe is None:
        raise BenchError("psql not found on PATH: install the PostgreSQL client (postgresql-client)")
    args = [exe, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url]
    for command in commands:
        args += ["-c", command]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PGTZ": "UTC"})
    if done.returncode != 0:
        raise BenchError(f"psql failed on {url}: {done.stderr.strip()}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def wait_for_health(base: str, process: subprocess.Popen[bytes], deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"eventpulse serve exited with {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise BenchError(f"the server did not answer {base}/health within {deadline_s:.0f} s")


def base_env(args: argparse.Namespace, db_url: str, data_dir: Path, enroll: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVENTPULSE_")},
        "DATABASE_URL": db_url.replace("postgresql://", "postgresql+pg8000://", 1),
        "EVENTPULSE_MODE": "local",
        "EVENTPULSE_DATA_DIR": str(data_dir),
        "EVENTPULSE_CONTRACTS_DIR": str(REPO / "contracts"),
        "EVENTPULSE_QUEUE": args.queue,
        "EVENTPULSE_INLINE_WORKERS": str(args.workers),
        "EVENTPULSE_INLINE_BATCH_SIZE": str(args.batch),
        "EVENTPULSE_WORKER_BATCH_SIZE": str(args.batch),
        "EVENTPULSE_REDIS_URL": args.redis_url,
        "EVENTPULSE_RQ_QUEUE_NAME": args.rq_queue,
        "EVENTPULSE_DB_POOL_SIZE": str(2 * args.workers + 8),
        "EVENTPULSE_EDGE_ENROLL_TOKEN_SHA256": hashlib.sha256(enroll.encode()).hexdigest(),
        "EVENTPULSE_DEVICE_TOKEN_PEPPER": secrets.token_hex(32),
        "EVENTPULSE_ENROLL_RATE_PER_MINUTE": str(max(10, 2 * args.users)),
        "EVENTPULSE_LOG_LEVEL": "WARNING",
    }


def start_server(args: argparse.Namespace, env: dict[str, str], data_dir: Path, port: int) -> Any:
    log = open(data_dir / "serve.log", "wb")
    process = subprocess.Popen(
        [str(BIN / "eventpulse"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process


def start_workers(args: argparse.Namespace, env: dict[str, str], data_dir: Path) -> list[Any]:
    """``eventpulse worker`` processes on the run's own RQ queue (none with ``--queue inline``)."""
    workers = []
    for n in range(args.rq_workers if args.queue == "rq" else 0):
        log = open(data_dir / f"worker-{n}.log", "wb")
        workers.append(
            subprocess.Popen(
                [
                    *nice(args.worker_nice),
                    str(BIN / "eventpulse"),
                    "worker",
                    "--name",
                    f"{args.rq_queue}-w{n}",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return workers


def nice(level: int) -> list[str]:
    """The ``nice`` prefix that runs a worker below the server's CPU priority (none at 0)."""
    return ["nice", "-n", str(level)] if level else []


def start_profiler(args: argparse.Namespace, server: Any, workers: list[Any], work: Path) -> Any:
    """py-spy on the server or the first worker for the load and settle (``--profile``), or None."""
    exe = shutil.which("py-spy")
    target = server if args.profile == "server" else workers[0] if args.profile and workers else None
    if target is None:
        return None
    if exe is None:
        raise BenchError("--profile needs py-spy on PATH (pip install py-spy)")
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(target.pid),
            "--idle",  # waits too: on Postgres, on the GIL
            "--format",
            "raw",
            "--rate",
            "50",
            "--output",
            str(work / f"{args.profile}.pyspy.txt"),
        ],
        stdout=open(work / "py-spy.log", "wb"),
        stderr=subprocess.STDOUT,
    )


def stop(process: Any) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def drop_rq_keys(args: argparse.Namespace, job_ids: list[str]) -> None:
    """Delete the run's RQ keys (its own queue, registries and jobs) from the shared Redis."""
    if args.queue != "rq":
        return
    from redis import Redis

    redis = Redis.from_url(args.redis_url)
    try:
        keys = list(redis.scan_iter(match=f"rq:*{args.rq_queue}*", count=1000))
        keys += [f"rq:job:{j}" for j in job_ids] + [f"rq:results:{j}" for j in job_ids]
        for start in range(0, len(keys), 500):
            redis.delete(*keys[start : start + 500])
    finally:
        redis.close()


def enroll_devices(base: str, enroll: str, users: int) -> list[dict[str, str]]:
    devices = []
    for n in range(users):
        device_id = f"bench-dev-{n:02d}"
        body = post_json(
            f"{base}/api/edge/enroll",
            {"device_id": device_id, "enroll_fingerprint": f"bench-fingerprint-{n:04d}-{uuid.uuid4().hex}"},
            {"X-Device-Enroll-Token": enroll},
        )
        devices.append({"device_id": device_id, "device_token": body["device_token"]})
    return devices


def warm_up(base: str, device: dict[str, str], events: int, db_url: str, deadline_s: float = 120.0) -> None:
    """One batch through the whole pipeline first: the figures are of a warm server (GX imported)."""
    body = "".join(
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "device_id": device["device_id"],
                "event_type": "reading",
                "ts": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            }
        )
        + "\n"
        for _ in range(events)
    ).encode()
    request = urllib.request.Request(
        f"{base}/api/edge/ingest/upload?dataset=edge_telemetry&filename=warmup-1.ndjson",
        data=body,
        headers={"X-Device-Id": device["device_id"], "X-Device-Token": device["device_token"]},
    )
    urllib.request.urlopen(request, timeout=30).close()
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if psql(db_url, "SELECT status FROM ingestions WHERE filename LIKE 'warmup-%'") == "LOADED":
            return
        time.sleep(0.5)
    raise BenchError(f"the warm-up batch was not LOADED within {deadline_s:.0f} s; see serve.log")


class BacklogSampler(threading.Thread):
    """Every ``interval`` s: ingestions registered, and those not settled yet (the backlog)."""

    def __init__(self, db_url: str, interval: float = 5.0):
        super().__init__(daemon=True)
        self.db_url, self.interval = db_url, interval
        self.samples: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            line = psql(
                self.db_url,
                f"SELECT count(*), count(*) FILTER (WHERE status IN {PENDING}) FROM ingestions "
                f"WHERE {MEASURED}",
            )
            total, pending = (int(v) for v in line.split("|"))
            self.samples.append(
                {"t_s": round(time.monotonic() - self.started_at, 1), "registered": total, "backlog": pending}
            )


def run_locust(args: argparse.Namespace, base: str, devices_file: Path, work: Path) -> dict[str, Any]:
    prefix = work / "locust"
    env = {
        **os.environ,
        "EDGE_BENCH_DEVICES": str(devices_file),
        "EDGE_BENCH_EVENTS": str(args.events),
        "EDGE_BENCH_BATCHES_PER_SECOND": str(args.rate),
        "EDGE_BENCH_LOCKSTEP": "1" if args.lockstep else "",
    }
    command = [
        str(BIN / "locust"),
        "-f",
        str(Path(__file__).with_name("edge_locustfile.py")),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.users),
        "-t",
        f"{args.duration}s",
        "--host",
        base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.duration + 120)
    (work / "locust.log").write_text(done.stdout + done.stderr)
    with open(f"{prefix}_stats.csv") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    row = rows.get("Aggregated")
    if row is None:
        raise BenchError(f"locust wrote no Aggregated row; see {work / 'locust.log'}")
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "requests_per_s": float(row["Requests/s"]),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "max_ms": float(row["Max Response Time"]),
    }


def wait_settled(db_url: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_TIMEOUT_S:
        if int(psql(db_url, f"SELECT count(*) FROM ingestions WHERE status IN {PENDING}")) == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return -1.0


def read_outcome(db_url: str) -> dict[str, Any]:
    statuses = dict(
        line.split("|")
        for line in psql(
            db_url, f"SELECT status, count(*) FROM ingestions WHERE {MEASURED} GROUP BY 1"
        ).splitlines()
        if line
    )
    latency = psql(
        db_url,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP "
        "(ORDER BY s), max(s), min(c), max(f) FROM (SELECT extract(epoch FROM finished_at - created_at) "
        f"AS s, created_at AS c, finished_at AS f FROM ingestions WHERE status = 'LOADED' AND {MEASURED}) t",
    ).split("|")
    span = psql(
        db_url,
        f"SELECT extract(epoch FROM max(finished_at) - min(created_at)) FROM ingestions WHERE {MEASURED}",
    )
    curated = int(
        psql(
            db_url,
            "SELECT count(*) FROM curated_edge_telemetry WHERE _ingestion_id IN "
            f"(SELECT id FROM ingestions WHERE {MEASURED})",
        )
    )
    expected = int(psql(db_url, f"SELECT coalesce(sum(rows_total), 0) FROM ingestions WHERE {MEASURED}"))
    return {
        "statuses": {k: int(v) for k, v in statuses.items()},
        "accept_to_loaded_p50_s": round(float(latency[0]), 3) if latency[0] else None,
        "accept_to_loaded_p95_s": round(float(latency[1]), 3) if latency[1] else None,
        "accept_to_loaded_max_s": round(float(latency[2]), 3) if latency[2] else None,
        "first_accept_to_last_loaded_s": round(float(span), 2) if span else None,
        "curated_rows": curated,
        "rows_in_accepted_files": expected,
    }


def measure_anchor(db_url: str, events: int, work: Path) -> dict[str, Any]:
    """``psql \\copy`` of ``events`` events (the same shape) as one CSV into a typed, keyed table."""
    path = work / "anchor.csv"
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    with open(path, "w") as f:
        for n in range(events):
            f.write(
                f"{uuid.uuid4()},bench-dev-{n % 20:02d},reading,temp_c,{20 + (n % 100) / 10},C,{now},"
                "48.137,11.575,3.92,-71,pi-agent/1.4.2\n"
            )
    psql(db_url, "DROP TABLE IF EXISTS anchor_edge", ANCHOR_DDL)
    started = time.perf_counter()
    psql(db_url, f"\\copy anchor_edge FROM '{path}' WITH (FORMAT csv)")
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": round(seconds, 3), "events_per_s": round(events / seconds, 1)}


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_end": [round(v, 2) for v in load],
        "uptime_at_end": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="simulated devices (locust users)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--events", type=int, default=100, help="events per NDJSON batch")
    parser.add_argument("--rate", type=float, default=0.55, help="batches per second per device")
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="every device sends in the same instant each interval (the worst case), instead of the "
        "agent's pacing: devices start at random phases and each interval varies by upload_jitter",
    )
    parser.add_argument("--queue", choices=("rq", "inline"), default="rq", help="EVENTPULSE_QUEUE")
    parser.add_argument("--rq-workers", type=int, default=2, help="eventpulse worker processes (rq)")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="nice level of the workers: the server's requests come first",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="EVENTPULSE_REDIS_URL")
    parser.add_argument("--workers", type=int, default=1, help="EVENTPULSE_INLINE_WORKERS (inline)")
    parser.add_argument(
        "--batch", type=int, default=50, help="EVENTPULSE_WORKER_BATCH_SIZE and EVENTPULSE_INLINE_BATCH_SIZE"
    )
    parser.add_argument(
        "--profile",
        choices=("worker", "server"),
        help="py-spy (raw, with waits) the first worker or the server",
    )
    parser.add_argument("--database-url", default=os.environ.get("EVENTPULSE_BENCH_ADMIN_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database and the work folder")
    args = parser.parse_args()

    uptime_at_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    name = f"eventpulse_bench_edge_{uuid.uuid4().hex[:8]}"
    args.rq_queue = name
    psql(args.database_url, f'CREATE DATABASE "{name}"')
    db_url = with_database(args.database_url, name)
    work = Path(tempfile.mkdtemp(prefix="eventpulse-edge-bench-"))
    port, enroll = free_port(), secrets.token_urlsafe(24)
    base = f"http://127.0.0.1:{port}"
    env = base_env(args, db_url, work, enroll)
    server = start_server(args, env, work, port)
    workers = start_workers(args, env, work)
    profiler, job_ids = None, []
    try:
        wait_for_health(base, server)
        devices = enroll_devices(base, enroll, args.users)
        warm_up(base, devices[0], args.events, db_url)
        devices_file = work / "devices.json"
        devices_file.write_text(json.dumps(devices))
        sampler = BacklogSampler(db_url)
        sampler.start()
        profiler = start_profiler(args, server, workers, work)
        load_started = time.monotonic()
        accepted = run_locust(args, base, devices_file, work)
        load_seconds = time.monotonic() - load_started
        settle_seconds = wait_settled(db_url)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            profiler.wait(timeout=60)
        sampler.stop.set()
        sampler.join()
        outcome = read_outcome(db_url)
        anchor = measure_anchor(db_url, outcome["rows_in_accepted_files"] or 1, work)
        job_ids = psql(db_url, "SELECT id FROM ingestions").split()
    finally:
        for process in [server, *workers]:
            stop(process)
    drop_rq_keys(args, job_ids)
    accepted_events = (accepted["requests"] - accepted["failures"]) * args.events
    loaded_rate = (
        outcome["curated_rows"] / outcome["first_accept_to_last_loaded_s"]
        if outcome["first_accept_to_last_loaded_s"]
        else 0.0
    )
    result = {
        "benchmark": "edge_ingest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "uptime_at_start": uptime_at_start},
        "config": {k: v for k, v in vars(args).items() if k not in ("database_url", "rq_queue")},
        "accepted": {
            **accepted,
            "events": accepted_events,
            "events_per_s": round(accepted_events / args.duration, 1),
            "load_wall_s": round(load_seconds, 1),
        },
        "loaded": {
            **outcome,
            "settle_after_load_s": round(settle_seconds, 1),
            "events_per_s": round(loaded_rate, 1),
        },
        "backlog_samples": sampler.samples,
        "anchor_psql_copy": anchor,
        "ratio_loaded_rate_to_anchor": round(loaded_rate / anchor["events_per_s"], 4)
        if anchor["events_per_s"]
        else None,
        "targets": {
            "accepted_events_per_s>=1000": accepted_events / args.duration >= 1000,
            "p99_ms<200": accepted["p99_ms"] < 200,
            # 202s locust saw (a request in flight at the stop is accepted but not counted by locust):
            # the check is on what the server registered
            "every_accepted_event_curated": outcome["curated_rows"] == outcome["rows_in_accepted_files"]
            and set(outcome["statuses"]) == {"LOADED"},
            "p95_accept_to_loaded_s<10": (outcome["accept_to_loaded_p95_s"] or 1e9) < 10,
        },
    }
    OUT.mkdir(exist_ok=True)
    out = OUT / f"edge_ingest_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    if not args.keep:
        psql(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept database {name} and {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Soak: mixed load on a real ``eventpulse serve`` (uploads, device batches, reads, replays) for a
bounded time, sampling the server's RSS, its Postgres sessions and the backlog. No error, RSS flat,
no connection leak, no backlog growth, and everything accepted ends final.

``make test`` runs 40 s; ``make chaos`` runs 30 minutes (EVENTPULSE_SOAK_SECONDS=1800) and writes
the samples to benchmarks/out/soak.json. Figures in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from eventpulse.demo.generator import write_case
from tests.conftest import TEST_TOKEN
from tests.e2e.edge_harness import ENROLL_TOKEN, ServerProcess

SECONDS = float(os.environ.get("EVENTPULSE_SOAK_SECONDS", "40"))
SAMPLE_EVERY = 2.0 if SECONDS <= 120 else 10.0
REPORT = os.environ.get("EVENTPULSE_SOAK_REPORT")
ADMIN = {"Authorization": f"Bearer {TEST_TOKEN}"}
UPLOADS_PER_SECOND = 2.0  # well under what two cores process: a soak, not an overload test


@pytest.fixture
def soak_server(postgres_admin_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    name = f"eventpulse_soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    server = ServerProcess(url, data_dir=tmp_path / "data", log=tmp_path / "serve.log")
    try:
        server.start()
        yield server, name
    finally:
        server.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def rss_mib(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def test_mixed_load_keeps_rss_flat_leaks_no_connection_and_grows_no_backlog(
    soak_server, postgres_admin_url: str, tmp_path: Path
) -> None:
    server, database = soak_server
    base = server.url
    engine = create_engine(make_url(postgres_admin_url).set(database=database))
    files = [
        write_case("edge_telemetry", "baseline", "csv", tmp_path / f"f{i}", rows=20, seed=1000 + i)
        for i in range(400)
    ]
    enrolled = requests.post(
        f"{base}/api/edge/enroll",
        json={"device_id": "soak-1", "enroll_fingerprint": "fp-soak0001"},
        headers={"X-Device-Enroll-Token": ENROLL_TOKEN},
        timeout=30,
    )
    assert enrolled.status_code in (200, 201), enrolled.text
    device = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    accepted: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    counter = iter(range(10**9))

    def note(kind: str, response: requests.Response) -> None:
        with lock:
            outcomes[f"{kind} {response.status_code}"] += 1
            if response.status_code >= 400:
                errors.append(f"{kind} {response.status_code}: {response.text[:200]}")

    def uploads() -> None:
        session = requests.Session()
        while not stop.is_set():
            n = next(counter)
            # Distinct bytes per upload: a new file every time, its rows the same keys (an upsert).
            body = files[n % len(files)].read_bytes() + b"\n" * (n // len(files))
            if n % 2:
                r = session.post(
                    f"{base}/api/ingest/upload?dataset=edge_telemetry&filename=u{n}.csv",
                    data=body,
                    headers={**ADMIN, "Content-Type": "application/octet-stream"},
                    timeout=60,
                )
                note("upload", r)
            else:
                r = session.post(
                    f"{base}/api/edge/ingest/upload?dataset=edge_telemetry&filename=d{n}.csv",
                    data=re.sub(rb"rpi-\d+", b"soak-1", body),  # the device sends its own readings
                    headers={**device, "Content-Type": "text/csv"},
                    timeout=60,
                )
                note("edge", r)
            if r.status_code in (200, 202):
                with lock:
                    accepted.append(r.json()["id"])
            stop.wait(1.0 / UPLOADS_PER_SECOND)

    def reads() -> None:
        session = requests.Session()
        while not stop.is_set():
            for path in ("/api/ingestions?limit=20", "/api/stats/queue", "/readyz", "/api/datasets"):
                note("read", session.get(base + path, headers=ADMIN, timeout=60))
            with lock:
                some = accepted[-1] if accepted else None
            if some:
                note("read", session.get(f"{base}/api/ingestions/{some}", headers=ADMIN, timeout=60))
            stop.wait(0.5)

    def replays() -> None:
        session = requests.Session()
        while not stop.is_set():
            stop.wait(5.0)
            with lock:
                some = accepted[len(accepted) // 2] if len(accepted) > 4 else None
            if some:
                r = session.post(f"{base}/api/ingestions/{some}/replay", headers=ADMIN, timeout=60)
                with lock:
                    outcomes[f"replay {r.status_code}"] += 1
                    if r.status_code >= 500 or r.status_code in (401, 403, 404):
                        errors.append(f"replay {r.status_code}: {r.text[:200]}")

    def backlog() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM ingestions WHERE status IN ('RECEIVED', 'PROCESSING')")
                ).scalar_one()
            )

    def sessions() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": database},
                ).scalar_one()
            )

    threads = [threading.Thread(target=f, daemon=True) for f in (uploads, reads, replays)]
    for t in threads:
        t.start()
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < SECONDS:
            time.sleep(SAMPLE_EVERY)
            assert server.running(), server.log.read_text()[-3000:]
            samples.append(
                {
                    "t": round(time.monotonic() - started, 1),
                    "rss_mib": round(rss_mib(server.process.pid), 1),
                    "sessions": sessions(),
                    "backlog": backlog(),
                }
            )
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    deadline = time.monotonic() + 60
    while backlog() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = backlog()
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT status, count(*) FROM ingestions GROUP BY 1")).all())
    engine.dispose()
    if REPORT:
        Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
        Path(REPORT).write_text(
            json.dumps(
                {"seconds": SECONDS, "outcomes": outcomes, "states": states, "samples": samples}, indent=2
            )
        )
    print(f"soak {SECONDS:.0f} s: {dict(outcomes)}; states {states}; first {samples[0]}; last {samples[-1]}")

    assert not errors, errors[:10]
    assert left == 0, f"{left} ingestions still waiting 60 s after the load stopped"
    assert set(states) <= {"LOADED", "PARTIALLY_LOADED"}, states
    third = max(1, len(samples) // 3)
    early = statistics.mean(s["rss_mib"] for s in samples[:third])
    late = statistics.mean(s["rss_mib"] for s in samples[-third:])
    assert late <= early * 1.25 + 40, f"RSS grew from {early:.0f} to {late:.0f} MiB"
    assert max(s["sessions"] for s in samples) <= 25, samples
    assert max(s["sessions"] for s in samples[-third:]) <= max(s["sessions"] for s in samples[:third]) + 5, (
        samples
    )
    assert max(s["backlog"] for s in samples[-third:]) <= max(
        10, 2 * max(s["backlog"] for s in samples[:third])
    ), samples

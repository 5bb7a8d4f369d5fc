"""Locust users for ``benchmarks/edge_ingest.py``: one user per enrolled device, loopback only.

Each user sends ``EDGE_BENCH_EVENTS`` NDJSON events per batch to ``POST /api/edge/ingest/upload`` with
its own device token, ``EDGE_BENCH_BATCHES_PER_SECOND`` batches per second on average, paced like the
agent (``eventpulse_edge.agent``): a device starts at a random phase of its interval (devices boot at
different moments) and each interval varies by the agent's default ``upload_jitter`` (10%).
``EDGE_BENCH_LOCKSTEP=1`` makes every device send in the same instant each interval instead, the
worst case (a fleet that somehow stays in phase). The devices and tokens come from the JSON file
named by ``EDGE_BENCH_DEVICES`` (written by the benchmark after enrolling them).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime

from locust import HttpUser, constant_throughput, task

from eventpulse_edge.config import EdgeConfig

DEVICES = json.loads(open(os.environ["EDGE_BENCH_DEVICES"]).read())
EVENTS = int(os.environ.get("EDGE_BENCH_EVENTS", "100"))
RATE = float(os.environ.get("EDGE_BENCH_BATCHES_PER_SECOND", "0.55"))
LOCKSTEP = os.environ.get("EDGE_BENCH_LOCKSTEP") == "1"
JITTER = 0.0 if LOCKSTEP else EdgeConfig.upload_jitter
_next_device = itertools.count()
_lock = threading.Lock()


def batch_body(device_id: str) -> bytes:
    now = datetime.now(UTC).replace(tzinfo=None)
    lines = [
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "device_id": device_id,
                "event_type": "reading",
                "sensor": "temp_c",
                "value": 20.0 + k / 10,
                "units": "C",
                "ts": now.isoformat(timespec="milliseconds"),
                "lat": 48.137,
                "lon": 11.575,
                "battery_v": 3.92,
                "rssi_dbm": -71,
                "firmware_version": "pi-agent/1.4.2",
            }
        )
        for k in range(EVENTS)
    ]
    return ("\n".join(lines) + "\n").encode()


class EdgeDevice(HttpUser):
    if LOCKSTEP:
        wait_time = constant_throughput(RATE)
    else:

        def wait_time(self) -> float:
            """Until this device's next upload: the agent's jittered interval, kept to its own schedule."""
            interval = (1 / RATE) * (1 - JITTER + 2 * JITTER * random.random())
            self.next_due = max(self.next_due + interval, time.monotonic())
            return self.next_due - time.monotonic()

    def on_start(self) -> None:
        if not LOCKSTEP:  # this device booted at some moment of its interval
            self.next_due = time.monotonic() + random.uniform(0, 1 / RATE)
            time.sleep(self.next_due - time.monotonic())
        with _lock:
            entry = DEVICES[next(_next_device) % len(DEVICES)]
        self.device_id = entry["device_id"]
        self.headers = {
            "X-Device-Id": entry["device_id"],
            "X-Device-Token": entry["device_token"],
            "Content-Type": "application/octet-stream",
        }
        self.sequence = itertools.count(1)

    @task
    def upload_batch(self) -> None:
        name = f"{self.device_id}-{next(self.sequence):06d}.ndjson"
        with self.client.post(
            f"/api/edge/ingest/upload?dataset=edge_telemetry&filename={name}",
            data=batch_body(self.device_id),
            headers=self.headers,
            name="/api/edge/ingest/upload",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

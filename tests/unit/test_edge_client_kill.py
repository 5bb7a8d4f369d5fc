"""`kill -9` of the running agent, repeated, against the in-process stub of the edge routes: after a
final drain nothing is lost (the uploaded batches cover every spooled sequence number without a gap) and
nothing is loaded twice (a resend after a lost answer is byte-identical, so the server answers 200)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eventpulse_edge.agent import Agent
from eventpulse_edge.client import EdgeClient
from eventpulse_edge.config import EdgeConfig
from eventpulse_edge.spool import Spool
from tests.unit.test_edge_client_agent import ENROLL, server  # noqa: F401  (the stub server fixture)

EDGE_SRC = Path(__file__).resolve().parents[2] / "edge_client"


def test_repeated_kill_9_loses_nothing_and_duplicates_nothing(tmp_path: Path, server: Any) -> None:  # noqa: F811
    state, url = server
    env = {
        **os.environ,
        "PYTHONPATH": str(EDGE_SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "EVENTPULSE_EDGE_CONFIG": str(tmp_path / "absent.toml"),
        "EVENTPULSE_EDGE_SERVER_URL": url,
        "EVENTPULSE_EDGE_DEVICE_ID": "pi-k",
        "EVENTPULSE_EDGE_STATE_DIR": str(tmp_path / "state"),
        "EVENTPULSE_EDGE_ENROLL_TOKEN": ENROLL,
        "EVENTPULSE_EDGE_SIMULATE": "true",
        "EVENTPULSE_EDGE_SAMPLING_INTERVAL_S": "0.05",
        "EVENTPULSE_EDGE_UPLOAD_INTERVAL_S": "0.1",
        "EVENTPULSE_EDGE_BATCH_MAX_EVENTS": "4",
    }
    for run in range(5):
        child = subprocess.Popen(
            [sys.executable, "-m", "eventpulse_edge.cli", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.6 + 0.15 * run)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
    assert state.enrollments == 1  # every restart reused the saved token

    config = EdgeConfig(server_url=url, device_id="pi-k", state_dir=tmp_path / "state", batch_max_events=4)
    with Spool(config.spool_path) as spool:
        assert spool.integrity_ok()
        client = EdgeClient(url, "pi-k", timeout=5)
        drain = Agent(config, spool, client, sensors=None)
        drain.ensure_token()
        drain.upload()
        assert spool.depth() == 0

    accepted = [(name, body) for name, _, body, status in state.uploads if status == 202]
    ids = [json.loads(line)["event_id"] for _, body in accepted for line in body.decode().splitlines()]
    assert len(ids) == len(set(ids)) > 20  # nothing loaded twice
    covered: set[int] = set()
    for name, body in accepted:
        match = re.fullmatch(r"b(\d{12})-(\d{12})\.ndjson", name)
        assert match is not None
        first, last = int(match[1]), int(match[2])
        assert len(body.decode().splitlines()) == last - first + 1
        covered.update(range(first, last + 1))
    assert covered == set(range(1, max(covered) + 1))  # no gap: nothing lost

"""A corpus of 200+ generated hostile files (tests/hostile_corpus.py) uploaded through the API and
processed by a worker in a child process, on real Postgres: no 5xx, no file taking 60 s, no crash, no
file outside the data folder, every ingestion final on its first attempt, the worker under its memory
budget. ``make chaos`` runs it too; figures in docs/RELIABILITY.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from collections import Counter
from pathlib import Path

from eventpulse.api.app import create_app
from eventpulse.states import Status
from tests.helpers import RecordingQueue
from tests.hostile_corpus import corpus
from tests.integration.api_support import AUTH

HELPER = Path(__file__).with_name("bomb_worker_helper.py")
RSS_BUDGET_MIB = 1536
"""The worker's peak RSS over the whole corpus (a pipeline worker idles near 300 MiB with GX loaded)."""
FINAL_AT_ONCE = {
    Status.LOADED,
    Status.PARTIALLY_LOADED,
    Status.FAILED_READ,
    Status.FAILED_QUALITY,
    Status.FAILED_DRIFT,
    Status.FAILED_CONTRACT,
    Status.QUARANTINED,
}


def files_outside(root: Path, inside: list[Path]) -> set[Path]:
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            p = Path(d) / f
            if not any(p.is_relative_to(i) for i in inside):
                out.add(p)
    return out


def test_200_hostile_files_end_final_at_once_without_5xx_hangs_or_escapes(services, tmp_path) -> None:
    services.queue = RecordingQueue()  # the API registers; the child worker processes
    client = create_app(services).test_client()
    work = tmp_path / "corpus-src"
    data_dir = Path(services.settings.data_dir)
    hostile = list(corpus(work))
    assert len(hostile) >= 200, len(hostile)
    outside_before = files_outside(tmp_path, [data_dir, work])
    answers: Counter[int] = Counter()
    registered: dict[str, str] = {}
    for index, item in enumerate(hostile):
        query = urllib.parse.urlencode({"dataset": "edge_telemetry", "filename": item.name})
        response = client.post(
            f"/api/ingest/upload?{query}",
            data=item.data,
            headers={**AUTH, "Content-Type": "application/octet-stream"},
        )
        answers[response.status_code] += 1
        assert response.status_code < 500, (item.name[:60], item.what, response.get_json())
        body = response.get_json()
        assert body is not None, item.what
        if response.status_code < 300:
            registered.setdefault(str(body["id"]), f"{index}: {item.what}")
        else:
            assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    assert len(registered) >= 150, answers  # most reach the pipeline; the rest are refused at intake

    settings = services.settings
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
    }
    done = subprocess.run(
        [sys.executable, str(HELPER), *registered], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-4000:]  # no crash of the worker
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(registered)
    slowest = max(lines, key=lambda line: line["seconds"])
    assert slowest["seconds"] < 60, (registered[slowest["id"]], slowest)
    peak = max(line["max_rss_mib"] for line in lines)
    assert peak < RSS_BUDGET_MIB, f"the worker peaked at {peak} MiB"
    states: Counter[str] = Counter()
    with services.store.read() as tx:
        for ingestion_id, what in registered.items():
            row = tx.ingestions.get(ingestion_id)
            assert row is not None
            states[row["status"]] += 1
            assert row["status"] in FINAL_AT_ONCE, (what, row["status"], row["error"])
            assert row["attempts"] == 1, what
            if row["error"]:
                assert "Traceback" not in json.dumps(row["error"]) and row["error"].get("hint"), (
                    what,
                    row["error"],
                )
            assert services.landing.exists(row["raw_key"]), what  # the raw bytes are kept
    assert files_outside(tmp_path, [data_dir, work]) == outside_before  # nothing written elsewhere
    for raw in (data_dir / "raw").rglob("*"):
        assert raw.resolve().is_relative_to(data_dir.resolve())
    print(
        f"hostile corpus: {len(hostile)} files, HTTP {dict(answers)}, states {dict(states)}, "
        f"slowest {slowest['seconds']} s, worker peak {peak} MiB"
    )

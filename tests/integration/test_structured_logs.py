"""Structured logs through the real API, pipeline and Postgres: what every line carries, and what never.

Lines are captured where they really go, stderr (swapped for a buffer), through ``configure_logging``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from eventpulse.api.app import create_app
from eventpulse.bootstrap import build_services
from eventpulse.cli import main
from eventpulse.cloud import triggers
from eventpulse.landing.register import register_path
from eventpulse.logs import configure_logging, log_context
from eventpulse.logs.formatters import CloudLoggingFormatter
from eventpulse.logs.setup import EventPulseHandler
from tests.conftest import TEST_TOKEN
from tests.integration.api_support import AUTH, edge_csv, upload

PROJECT = "logs-test-project"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
REQUEST_ID = "req-logs-0123456789"
DATASET = "edge_telemetry"

Lines = Callable[[], list[dict[str, Any]]]


def fetch_status(services, ingestion_id: str) -> str:
    with services.store.read() as tx:
        row = tx.ingestions.get(uuid.UUID(ingestion_id))
    assert row is not None
    return str(row["status"])


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Lines:
    """JSON logging at DEBUG to stderr; the callable parses what was written (every line must be JSON)."""
    configure_logging("json", "DEBUG", project=PROJECT)
    return lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_every_line_of_an_upload_carries_its_request_id_and_trace(
    services, log_lines: Lines, tmp_path
) -> None:
    client = create_app(services).test_client()
    headers = {"X-Request-Id": REQUEST_ID, "traceparent": TRACEPARENT, "User-Agent": "edge-agent/1.0"}
    response = upload(client, edge_csv(tmp_path).read_bytes(), filename="edge.csv", headers=headers)
    assert response.status_code == 202, response.get_json()
    lines = log_lines()
    assert len(lines) > 1, "the inline pipeline logs inside the request too"
    for line in lines:
        assert line.get("request_id") == REQUEST_ID, line
        assert line["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}", line
        assert line["logging.googleapis.com/spanId"] == "00f067aa0ba902b7", line
    access = [line for line in lines if line["logger"] == "eventpulse.access"]
    assert len(access) == 1
    http = access[0]["httpRequest"]
    assert http["requestMethod"] == "POST" and http["status"] == 202
    assert http["requestUrl"] == f"/api/ingest/upload?dataset={DATASET}&filename=edge.csv"
    assert http["responseSize"] == str(len(response.data))
    assert http["userAgent"] == "edge-agent/1.0" and http["latency"].endswith("s")
    assert access[0]["severity"] == "INFO" and access[0]["message"].startswith("POST /api/ingest/upload?")


def test_a_request_without_trace_headers_still_carries_its_request_id(services, log_lines: Lines) -> None:
    response = create_app(services).test_client().get("/api/ingestions", headers=AUTH)
    assert response.status_code == 200
    (access,) = log_lines()
    assert access["request_id"] == response.headers["X-Request-Id"]
    assert "logging.googleapis.com/trace" not in access


def test_each_request_gets_its_own_id_on_its_lines(services, log_lines: Lines) -> None:
    client = create_app(services).test_client()
    first = client.get("/api/ingestions", headers={**AUTH, "X-Request-Id": "req-first-000001"})
    second = client.get("/nowhere", headers={"X-Request-Id": "req-second-00002"})
    assert (first.status_code, second.status_code) == (200, 404)
    assert [line["request_id"] for line in log_lines()] == ["req-first-000001", "req-second-00002"]


def _app_with_a_failing_route(services) -> Flask:
    app = create_app(services)

    def boom() -> str:
        raise RuntimeError(f"upstream said: {_request_authorization()}")

    app.add_url_rule("/boom", "boom", boom)  # outside /api: no role to declare
    return app


def _request_authorization() -> str:
    from flask import request

    return str(request.headers.get("Authorization"))


def test_an_unexpected_error_line_carries_the_request_id_trace_and_stack(services, log_lines: Lines) -> None:
    client = _app_with_a_failing_route(services).test_client()
    response = client.get("/boom", headers={**AUTH, "X-Request-Id": REQUEST_ID, "traceparent": TRACEPARENT})
    assert response.status_code == 500
    assert response.get_json()["error"]["details"]["request_id"] == REQUEST_ID
    lines = log_lines()
    (error,) = [line for line in lines if line["severity"] == "ERROR" and "stack_trace" in line]
    assert error["request_id"] == REQUEST_ID
    assert error["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert "RuntimeError: upstream said: Bearer [REDACTED]" in error["stack_trace"]
    (access,) = [line for line in lines if line["logger"] == "eventpulse.access"]
    assert access["httpRequest"]["status"] == 500 and access["severity"] == "ERROR"


def test_no_token_or_authorization_header_ever_reaches_a_line(services, capsys) -> None:
    configure_logging("json", "DEBUG", project=PROJECT)
    client = _app_with_a_failing_route(services).test_client()
    wrong = "secret-wrong-token-5f2a9c"
    query_secret = "secret-in-query-77d1e0"
    client.get(f"/api/ingestions?token={query_secret}", headers={"Authorization": f"Bearer {wrong}"})
    client.get(f"/api/ingestions?access_token={query_secret}&limit=1", headers=AUTH)
    client.get("/boom", headers=AUTH)
    client.get("/api/ingestions", headers={"X-Task-Token": "secret-task-token-31c"})
    written = capsys.readouterr().err
    assert written.count('"logger": "eventpulse.access"') == 4
    for secret in (wrong, query_secret, TEST_TOKEN, "secret-task-token-31c"):
        assert secret not in written
    assert "token=[REDACTED]" in written


def test_pipeline_lines_from_every_thread_carry_the_ingestion_and_dataset(
    services, log_lines: Lines, tmp_path
) -> None:
    registration = register_path(services, path=edge_csv(tmp_path), dataset=DATASET, source="test", actor="t")
    ingestion_id = str(registration.ingestion["id"])
    assert fetch_status(services, ingestion_id) == "LOADED"
    lines = log_lines()
    threads = {line["thread"] for line in lines}
    assert "eventpulse-copy" in threads and f"heartbeat-{ingestion_id}" in threads
    processing = [
        line
        for line in lines
        if line["logger"].startswith(("eventpulse.pipeline", "eventpulse.curate", "eventpulse.adapters"))
    ]
    assert len(processing) >= 3
    for line in processing:
        assert line["ingestion_id"] == ingestion_id and line["dataset"] == DATASET, line
    assert all(line["dataset"] == DATASET for line in lines)


def test_the_background_queue_carries_the_fields_of_whoever_enqueued(
    settings, log_lines: Lines, tmp_path
) -> None:
    background = build_services(settings, background=True)
    try:
        with log_context(request_id=REQUEST_ID):
            registration = register_path(
                background, path=edge_csv(tmp_path, seed=11), dataset=DATASET, source="test", actor="t"
            )
    finally:
        background.close()  # waits for the pool to finish the ingestion
    ingestion_id = str(registration.ingestion["id"])
    pool_lines = [line for line in log_lines() if line["thread"].startswith("ingest")]
    assert pool_lines, "the ingestion ran on the pool"
    for line in pool_lines:
        assert line["request_id"] == REQUEST_ID and line["ingestion_id"] == ingestion_id, line


def test_a_cloud_function_call_carries_its_request_id_and_trace(log_lines: Lines) -> None:
    app = Flask("function-under-test")
    cloud_trace = f"{TRACE_ID}/123;o=1"

    def call() -> tuple[int, dict[str, object]]:
        import logging

        logging.getLogger("eventpulse.cloud.tasks").info("processing task")
        raise RuntimeError("the task failed")

    with app.test_request_context("/", headers={"X-Cloud-Trace-Context": cloud_trace}):
        response = triggers.respond(call)
    assert response.status_code == 500
    lines = log_lines()
    assert [line["message"] for line in lines][0] == "processing task"
    request_ids = {line["request_id"] for line in lines}
    assert request_ids == {response.headers["X-Request-Id"]}
    assert all(line["logging.googleapis.com/spanId"] == f"{123:016x}" for line in lines)
    assert any("stack_trace" in line for line in lines), "the failure is logged with its trace"


def _our_handler() -> EventPulseHandler:
    import logging

    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, EventPulseHandler)]
    return handler


def test_cli_verbose_means_debug_and_the_format_setting_is_used(services) -> None:
    import logging

    env = {"DATABASE_URL": str(services.settings.database_url), "EVENTPULSE_LOG_FORMAT": "json"}
    result = CliRunner().invoke(
        main, ["-v", "ingestions", "list"], env={**env, "EVENTPULSE_LOG_LEVEL": "ERROR"}
    )
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.DEBUG
    assert isinstance(_our_handler().formatter, CloudLoggingFormatter)
    CliRunner().invoke(main, ["ingestions", "list"], env={**env, "EVENTPULSE_LOG_LEVEL": "warning"})
    assert logging.getLogger().level == logging.WARNING


def test_cli_logs_go_to_stderr_and_results_to_stdout(services, tmp_path) -> None:
    s = services.settings
    env = {
        "EVENTPULSE_DATA_DIR": str(s.data_dir),
        "DATABASE_URL": str(s.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(s.contracts_dir),
        "EVENTPULSE_LOG_FORMAT": "json",
    }
    args = ["ingest", str(edge_csv(tmp_path)), "--dataset", DATASET, "--wait"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "status: LOADED" in result.stdout and '"severity"' not in result.stdout
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    ingestion_id = result.stdout.split()[1]
    uuid.UUID(ingestion_id)
    assert any(line.get("ingestion_id") == ingestion_id for line in logged)

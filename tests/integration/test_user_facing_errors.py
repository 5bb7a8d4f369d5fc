"""A real driver error in the pipeline: users read a sentence, the operator's log has the details.

The failures are made with real Postgres, as an operator would cause them: a constraint added to a
curated table by hand (the load is refused), a column added by hand that a file then evolves (the
DDL is refused). Nothing is faked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from eventpulse.api.app import create_app
from eventpulse.cli import main
from eventpulse.logs import configure_logging
from eventpulse.states import Status
from tests.helpers import artifacts, ingest
from tests.integration.api_support import AUTH, edge_csv, upload

DATASET = "edge_telemetry"
TABLE = f"curated_{DATASET}"
REQUEST_ID = "req-driver-error-0001"
CONSTRAINT = "operator_only_past_readings"
PAST_ONLY = "ts < now() - interval '100 years'"

DRIVER_TRACES = (
    re.compile(r"\b(INSERT|ALTER|COPY|SELECT|CREATE)\b"),  # SQL
    re.compile(r"'[SVCMFLR]': '"),  # pg8000's error fields: severity, code, message, file, line, routine
    re.compile(r"\w+\.c\b"),  # Postgres's source file
    re.compile(r"pg8000|sqlalchemy|ProgrammingError|DatabaseError|IntegrityError|DBAPIError", re.IGNORECASE),
    re.compile(r"Traceback|sqlalche\.me"),
    re.compile(CONSTRAINT),  # the database's own message names the constraint
)

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Lines:
    configure_logging("json", "INFO")
    return lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def assert_no_driver_traces(shown: object) -> None:
    blob = json.dumps(shown, default=str)
    for pattern in DRIVER_TRACES:
        assert not pattern.search(blob), f"{pattern.pattern!r} reached a user: {blob[:2000]}"


def execute(services, sql: str) -> None:
    with services.store.engine.begin() as conn:
        conn.execute(text(sql))


def cli_env(services) -> dict[str, str]:
    s = services.settings
    return {
        "EVENTPULSE_DATA_DIR": str(s.data_dir),
        "DATABASE_URL": str(s.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(s.contracts_dir),
    }


def failure_line(lines: list[dict[str, Any]], ingestion_id: str) -> dict[str, Any]:
    (line,) = [
        x
        for x in lines
        if x["severity"] == "ERROR" and x.get("ingestion_id") == ingestion_id and "attempt" in x["message"]
    ]
    return line


def test_a_refused_load_shows_a_sentence_and_logs_the_driver_error_with_its_ids(
    services, tmp_path, log_lines: Lines
) -> None:
    assert ingest(services, edge_csv(tmp_path, seed=1), DATASET)["status"] == Status.LOADED
    # An operator's rule that every new row breaks (NOT VALID: the rows already there are not checked).
    execute(
        services,
        f'ALTER TABLE "{TABLE}" ADD CONSTRAINT {CONSTRAINT} CHECK ({PAST_ONLY}) NOT VALID',
    )
    log_lines()  # forget the first load's lines
    client = create_app(services).test_client()

    response = upload(client, edge_csv(tmp_path, seed=2).read_bytes(), headers={"X-Request-Id": REQUEST_ID})

    assert response.status_code == 202, response.get_json()
    ingestion_id = response.get_json()["id"]
    detail = client.get(f"/api/ingestions/{ingestion_id}", headers=AUTH).get_json()
    assert detail["status"] == Status.FAILED_EXCEPTION, detail
    error = detail["error"]
    assert error["code"] == "load_refused"
    assert error["message"] == (
        f"the database refused the load into curated table {TABLE!r}: "
        "a row breaks a constraint of the table (for example one an operator added)"
    )
    assert "retried automatically" in error["hint"] and f"under ingestion {ingestion_id}" in error["hint"]
    for shown in (
        response.get_json(),
        detail,
        client.get(f"/api/audit_events?entity_id={ingestion_id}", headers=AUTH).get_json(),
    ):
        assert_no_driver_traces(shown)
    assert detail["lineage"]["run"]["facets"]["errorMessage"]["message"] == error["message"]

    line = failure_line(log_lines(), ingestion_id)
    assert line["request_id"] == REQUEST_ID and line["dataset"] == DATASET
    assert (
        CONSTRAINT in line["message"] and "'F': " in line["message"]
    )  # the driver's words, with Postgres's position
    assert "ProgrammingError" in line["stack_trace"] or "IntegrityError" in line["stack_trace"]
    assert "in _upsert" in line["stack_trace"] or "in finish" in line["stack_trace"]  # where it failed

    shown_by_cli = CliRunner().invoke(main, ["ingestions", "show", ingestion_id], env=cli_env(services))
    assert shown_by_cli.exit_code == 0, shown_by_cli.output
    assert json.loads(shown_by_cli.stdout)["error"] == error
    assert_no_driver_traces(json.loads(shown_by_cli.stdout))


def test_a_refused_curated_table_change_says_so_and_the_last_attempt_says_how_to_replay(
    services, tmp_path, log_lines: Lines
) -> None:
    services.settings = services.settings.with_overrides(max_attempts=1)
    assert ingest(services, edge_csv(tmp_path, seed=3), DATASET)["status"] == Status.LOADED
    # The column a file will evolve, added by hand with another type: the DDL of the evolution fails.
    execute(services, f'ALTER TABLE "{TABLE}" ADD COLUMN uptime_s text')
    log_lines()

    row = ingest(services, edge_csv(tmp_path, seed=4, case="add_column"), DATASET)

    assert row["status"] == Status.FAILED_MAX_ATTEMPTS, row["error"]
    error = row["error"]
    assert error["code"] == "curated_table_change_failed"
    assert error["message"].startswith("the database refused to change the dataset's curated table")
    assert "not shaped as EventPulse recorded it" in error["message"]
    ingestion_id = str(row["id"])
    assert "no attempts are left" in error["hint"] and f"eventpulse replay {ingestion_id}" in error["hint"]
    assert_no_driver_traces(error)
    assert_no_driver_traces(artifacts(services, row["id"])["lineage"])

    line = failure_line(log_lines(), ingestion_id)
    assert 'column "uptime_s"' in line["message"] and "42701" in line["message"]
    assert "ALTER TABLE" in line["stack_trace"]


def test_replay_range_reports_the_sentence_not_the_driver_error(services, tmp_path) -> None:
    from eventpulse.jobs.replay import replay_range

    first = ingest(services, edge_csv(tmp_path, seed=5), DATASET)
    execute(
        services,
        f'ALTER TABLE "{TABLE}" ADD CONSTRAINT {CONSTRAINT} CHECK ({PAST_ONLY}) NOT VALID',
    )
    execute(services, f'DELETE FROM "{TABLE}"')  # the replay must insert again, and break the rule

    report = replay_range(services, dataset=DATASET, actor="test")

    ((original, reason),) = report.failed
    assert original == first["id"] and "FAILED_EXCEPTION" in reason
    assert "refused the load" in reason
    assert_no_driver_traces(report.to_dict())

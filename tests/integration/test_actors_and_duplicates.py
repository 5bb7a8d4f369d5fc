"""The audit log names the token, and a repeated delivery is audited and explained (API and CLI)."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from eventpulse.api.app import create_app
from eventpulse.cli import main
from eventpulse.settings import ApiToken
from tests.integration.api_support import edge_csv, upload

CI_TOKEN, ROOT_TOKEN = "ci-token-value", "root-token-value"
CI = {"Authorization": f"Bearer {CI_TOKEN}"}
ROOT = {"Authorization": f"Bearer {ROOT_TOKEN}"}


def _token(name: str, role: str, secret: str) -> ApiToken:
    return ApiToken(name=name, role=role, sha256=hashlib.sha256(secret.encode()).hexdigest())  # type: ignore[arg-type]


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    tokens = (_token("ci", "operator", CI_TOKEN), _token("root", "admin", ROOT_TOKEN))
    services.settings = services.settings.with_overrides(api_tokens=tokens)
    return create_app(services).test_client()


def events(client, **filters: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return client.get("/api/audit_events", query_string=filters, headers=ROOT).get_json()["items"]


def test_uploads_and_replays_are_recorded_under_the_tokens_name(client, tmp_path) -> None:
    first = upload(client, edge_csv(tmp_path).read_bytes(), headers=CI).get_json()
    assert first["created_by"] == "token:ci"
    registered = events(client, entity_id=first["id"], action="ingestion.registered")
    assert [e["actor"] for e in registered] == ["token:ci"]
    replayed = client.post(f"/api/ingestions/{first['id']}/replay", headers=ROOT).get_json()
    assert replayed["created_by"] == "token:root"
    assert [e["actor"] for e in events(client, action="ingestion.replayed")] == ["token:root"]


def test_admin_bearer_runs_a_job_recorded_as_admin_with_its_name(client) -> None:
    response = client.post("/internal/admin/prune", json={"older_than_days": 30}, headers=ROOT)
    assert response.status_code == 200, response.get_json()
    assert [e["actor"] for e in events(client, action="job.prune_retention")] == ["admin:token:root"]


def test_a_repeated_upload_is_audited_on_the_existing_ingestion(client, tmp_path) -> None:
    body = edge_csv(tmp_path).read_bytes()
    first = upload(client, body, headers=CI, filename="first.csv").get_json()
    again = upload(client, body, headers=ROOT, filename="again.csv", source="retry-script")
    assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    dedup = events(client, entity_id=first["id"], action="ingestion.deduplicated")
    assert len(dedup) == 1
    assert dedup[0]["actor"] == "token:root"
    assert dedup[0]["details"]["filename"] == "again.csv" and dedup[0]["details"]["source"] == "retry-script"
    assert dedup[0]["details"]["status"] == "LOADED"
    assert again.get_json()["duplicate"]["message"].endswith("already LOADED; nothing new was queued")


def test_re_uploading_a_failed_file_says_so_and_how_to_replay_it(client, tmp_path) -> None:
    body = edge_csv(tmp_path, case="duplicate_pk").read_bytes()  # fails its quality gate
    first = upload(client, body, headers=CI).get_json()
    assert first["status"].startswith("FAILED_"), first
    again = upload(client, body, headers=CI).get_json()
    assert again["deduplicated"] is True and "duplicate" not in first
    notice = again["duplicate"]
    assert first["id"] in notice["message"] and f"ended {first['status']}" in notice["message"]
    assert notice["next_steps"] == [
        {
            "description": "process the same raw bytes again",
            "route": f"POST /api/ingestions/{first['id']}/replay",
            "command": f"eventpulse replay {first['id']}",
        }
    ]


def test_cli_ingest_of_known_failed_bytes_prints_the_existing_ingestion_and_the_replay_command(
    services, tmp_path
) -> None:
    s = services.settings
    env = {
        "EVENTPULSE_DATA_DIR": str(s.data_dir),
        "DATABASE_URL": str(s.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(s.contracts_dir),
    }
    bad = str(edge_csv(tmp_path, case="duplicate_pk"))
    runner = CliRunner()
    runner.invoke(main, ["ingest", bad, "--dataset", "edge_telemetry"], env=env)
    again = runner.invoke(main, ["ingest", bad, "--dataset", "edge_telemetry"], env=env)
    assert again.exit_code == 1, again.output
    ingestion_id = again.output.split()[1]
    assert "(same bytes already registered)" in again.output
    assert f"eventpulse replay {ingestion_id}" in again.output
    assert f"POST /api/ingestions/{ingestion_id}/replay" in again.output

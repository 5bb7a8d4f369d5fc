"""The CLI through click's CliRunner, on the real session database."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from emulators._process import free_port
from eventpulse.cli import ensure_local_api_token, main
from eventpulse.cli.common import ensure_local_task_token
from tests.integration.api_support import edge_csv


@pytest.fixture
def env(services) -> dict[str, str]:
    s = services.settings
    return {
        "EVENTPULSE_DATA_DIR": str(s.data_dir),
        "DATABASE_URL": str(s.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(s.contracts_dir),
        # A port nothing listens on: `ingest` must not find a developer's `make up` server.
        "EVENTPULSE_HTTP_PORT": str(free_port()),
    }


def test_ingest_wait_exits_0_when_loaded(env, tmp_path) -> None:
    args = ["ingest", str(edge_csv(tmp_path)), "--dataset", "edge_telemetry", "--wait"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "status: LOADED" in result.output and "rows loaded: 5" in result.output


def test_ingest_exits_1_when_the_file_fails(env, tmp_path) -> None:
    bad = edge_csv(tmp_path, case="duplicate_pk")  # the last row repeats the first primary key
    result = CliRunner().invoke(main, ["ingest", str(bad), "--dataset", "edge_telemetry", "--wait"], env=env)
    assert result.exit_code == 1, result.output
    assert "status: " in result.output and "LOADED" not in result.output
    assert "error: " in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--dataset", "../x"],  # invalid dataset
        ["--dataset", "nope"],  # no contract
        [],  # --dataset missing
    ],
)
def test_ingest_usage_errors_exit_2(env, tmp_path, args) -> None:
    result = CliRunner().invoke(main, ["ingest", str(edge_csv(tmp_path)), *args], env=env)
    assert result.exit_code == 2, result.output


def test_ingest_of_a_missing_file_or_bad_extension_exits_2(env, tmp_path) -> None:
    runner = CliRunner()
    missing_file = str(tmp_path / "nope.csv")
    missing = runner.invoke(main, ["ingest", missing_file, "--dataset", "edge_telemetry"], env=env)
    assert missing.exit_code == 2
    exe = tmp_path / "x.exe"
    exe.write_bytes(b"MZ")
    assert runner.invoke(main, ["ingest", str(exe), "--dataset", "edge_telemetry"], env=env).exit_code == 2


def test_list_show_and_replay(env, tmp_path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["ingest", str(edge_csv(tmp_path)), "--dataset", "edge_telemetry"], env=env)
    listed = runner.invoke(main, ["ingestions", "list", "--status", "LOADED"], env=env)
    assert listed.exit_code == 0 and "edge_telemetry" in listed.output
    as_json = json.loads(runner.invoke(main, ["ingestions", "list", "--json"], env=env).stdout)
    assert as_json["total"] == 1 and as_json["items"][0]["status"] == "LOADED"
    ingestion_id = listed.output.split()[0]
    shown = runner.invoke(main, ["ingestions", "show", ingestion_id], env=env)
    assert shown.exit_code == 0 and '"lineage"' in shown.output
    replayed = runner.invoke(main, ["replay", ingestion_id, "--wait"], env=env)
    assert replayed.exit_code == 0 and "status: LOADED" in replayed.output
    assert runner.invoke(main, ["ingestions", "show", "not-a-uuid"], env=env).exit_code == 2


def test_local_serve_token_is_created_once_with_mode_0600_as_the_local_admin(settings) -> None:
    bare = settings.with_overrides(api_token_sha256=())
    first = ensure_local_api_token(bare)
    second = ensure_local_api_token(bare)
    token_file = settings.secrets_dir / "api_token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert first.api_tokens == second.api_tokens and len(first.api_tokens) == 1
    (token,) = first.api_tokens
    assert (token.name, token.role) == ("local-admin", "admin")
    assert token.sha256 == hashlib.sha256(token_file.read_text().strip().encode()).hexdigest()
    cloud = settings.with_overrides(mode="cloud", api_token_sha256=())
    assert ensure_local_api_token(cloud).accepted_api_tokens == ()
    configured = settings  # the session's settings already accept a token: nothing is created
    assert ensure_local_api_token(configured) is configured


@pytest.fixture
def server_url(services):  # type: ignore[no-untyped-def]
    """The real API on 127.0.0.1 over the session database (werkzeug, the server under Flask)."""
    import threading

    from werkzeug.serving import make_server

    from eventpulse.api.app import create_app

    server = make_server("127.0.0.1", 0, create_app(services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_ingest_to_a_server_uploads_waits_and_exits_by_the_final_status(env, server_url, tmp_path) -> None:
    from tests.conftest import TEST_TOKEN

    remote = {**env, "EVENTPULSE_API_TOKEN": TEST_TOKEN}
    good = ["ingest", str(edge_csv(tmp_path, rows=7)), "--dataset", "edge_telemetry", "--server", server_url]
    result = CliRunner().invoke(main, [*good, "--wait"], env=remote)
    assert result.exit_code == 0, result.output
    assert "status: LOADED" in result.output and "rows loaded: 7" in result.output

    bad = edge_csv(tmp_path / "bad", case="duplicate_pk")
    args = ["ingest", str(bad), "--dataset", "edge_telemetry", "--server", server_url, "--wait"]
    failed = CliRunner().invoke(main, args, env=remote)
    assert failed.exit_code == 1, failed.output
    assert "FAILED_QUALITY" in failed.output

    wrong = CliRunner().invoke(main, [*good, "--wait"], env={**env, "EVENTPULSE_API_TOKEN": "wrong"})
    assert wrong.exit_code == 2, wrong.output


def _created_by(services, ingestion_id: str) -> str:
    with services.store.read() as tx:
        return str(tx.ingestions.get(ingestion_id)["created_by"])


def test_ingest_uploads_to_the_local_server_when_one_answers(services, env, server_url, tmp_path) -> None:
    from tests.conftest import TEST_TOKEN

    local = {
        **env,
        "EVENTPULSE_HTTP_PORT": str(urlsplit(server_url).port),
        "EVENTPULSE_API_TOKEN": TEST_TOKEN,
    }
    args = ["ingest", str(edge_csv(tmp_path, rows=6)), "--dataset", "edge_telemetry", "--wait", "--json"]
    result = CliRunner().invoke(main, args, env=local)
    assert result.exit_code == 0, result.output
    assert f"uploading to the server at {server_url}" in result.stderr
    body = json.loads(result.stdout)  # stdout holds the result alone, logs and progress go to stderr
    assert (body["status"], body["rows_loaded"], body["deduplicated"]) == ("LOADED", 6, False)
    assert _created_by(services, body["id"]) != "cli"  # registered by the server, not in this process

    forced = ["ingest", str(edge_csv(tmp_path, rows=4, seed=9)), "--dataset", "edge_telemetry", "--local"]
    here = CliRunner().invoke(main, [*forced, "--json"], env=local)
    assert here.exit_code == 0, here.output
    assert "uploading to the server" not in here.stderr
    assert _created_by(services, json.loads(here.stdout)["id"]) == "cli"


def test_ingest_json_reports_a_failure_on_stdout_and_exits_1(env, tmp_path) -> None:
    bad = edge_csv(tmp_path, case="duplicate_pk")
    result = CliRunner().invoke(main, ["ingest", str(bad), "--dataset", "edge_telemetry", "--json"], env=env)
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "FAILED_QUALITY" and body["error"]["code"] == "quality_gate_failed"


def test_ingest_refuses_server_and_local_together(env, tmp_path) -> None:
    args = [
        "ingest",
        str(edge_csv(tmp_path)),
        "--dataset",
        "edge_telemetry",
        "--local",
        "--server",
        "http://x",
    ]
    assert CliRunner().invoke(main, args, env=env).exit_code == 2


def test_local_serve_task_token_is_created_once_and_accepted_by_internal_routes(services, settings) -> None:
    from eventpulse.api.app import create_app

    bare = settings.with_overrides(task_token_sha256=())
    first = ensure_local_task_token(bare)
    assert ensure_local_task_token(bare).task_token_sha256 == first.task_token_sha256
    token_file = settings.secrets_dir / "task_token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    services.settings = first
    client = create_app(services).test_client()
    answer = client.post(
        "/internal/admin/reclaim", json={}, headers={"X-Task-Token": token_file.read_text().strip()}
    )
    assert answer.status_code == 200, answer.get_json()
    assert (
        client.post("/internal/admin/reclaim", json={}, headers={"X-Task-Token": "nope"}).status_code == 401
    )
    assert (
        ensure_local_task_token(settings.with_overrides(mode="cloud", task_token_sha256=())).task_token_sha256
        == ()
    )


def test_contracts_commands_validate_save_and_dry_run(env, tmp_path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["ingest", str(edge_csv(tmp_path)), "--dataset", "edge_telemetry", "--wait"], env=env
        ).exit_code
        == 0
    )
    shown = runner.invoke(main, ["contracts", "show", "edge_telemetry"], env=env)
    assert shown.exit_code == 0, shown.output
    current = json.loads(shown.output)
    candidate = current["suite"]
    for item in candidate["expectations"]:
        if item["type"] == "expect_table_row_count_to_be_between":
            item["kwargs"]["min_value"] = 1000
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(candidate))

    checked = runner.invoke(main, ["contracts", "validate", "edge_telemetry", str(path)], env=env)
    assert checked.exit_code == 0 and "expectation_changed" in checked.output, checked.output
    dry = runner.invoke(main, ["contracts", "dry-run", "edge_telemetry", str(path)], env=env)
    assert dry.exit_code == 1, dry.output  # a file would change state
    assert "LOADED -> FAILED_QUALITY" in dry.output and "[1/1]" in dry.output
    assert "expect_table_row_count_to_be_between" in dry.output

    stale = runner.invoke(
        main, ["contracts", "save", "edge_telemetry", str(path), "--base-version", "0" * 64], env=env
    )
    assert stale.exit_code != 0 and "changed since version" in stale.output
    saved = runner.invoke(
        main,
        ["contracts", "save", "edge_telemetry", str(path), "--base-version", current["version"]],
        env=env,
    )
    assert saved.exit_code == 0 and "saved: edge_telemetry is now version" in saved.output, saved.output
    listed = runner.invoke(main, ["contracts", "list"], env=env)
    assert "api by cli" in listed.output

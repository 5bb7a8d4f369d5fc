"""The maintenance jobs (prune retention, replay a range, reclaim) from the core, the CLI, the Cloud Run
job entry points and the authenticated ``/internal/admin`` endpoints, on the real pipeline."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from eventpulse import runtime
from eventpulse.api.app import create_app
from eventpulse.cli.jobs import commands
from eventpulse.errors import BadRequest
from eventpulse.jobs.prune import plan_prune, prune_retention
from eventpulse.jobs.replay import replay_range
from eventpulse.landing.register import register_path, replay
from eventpulse.states import Status
from tests.conftest import REPO_ROOT, TEST_TASK_TOKEN
from tests.helpers import RecordingQueue, curated_count
from tests.integration.api_support import AUTH, TASK_AUTH, edge_csv

DATASET = "edge_telemetry"


def _loaded(services: Any, tmp_path: Path, seed: int, rows: int = 5) -> dict[str, Any]:
    row = register_path(
        services, path=edge_csv(tmp_path, rows=rows, seed=seed), dataset=DATASET, source="test", actor="test"
    ).ingestion
    with services.store.read() as tx:
        loaded = tx.ingestions.get(row["id"])
    assert loaded is not None and loaded["status"] == Status.LOADED, loaded
    return loaded


def _age(services: Any, ingestion_ids: list[uuid.UUID], days: int) -> None:
    """Move ingestions and their audit events ``days`` into the past."""
    with services.store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ingestions SET created_at = now() - make_interval(days => :d), "
                "updated_at = now() - make_interval(days => :d) WHERE id = ANY(:ids)"
            ),
            {"d": days, "ids": ingestion_ids},
        )
        conn.execute(
            text(
                "UPDATE audit_events SET at = now() - make_interval(days => :d) WHERE entity_id = ANY(:ids)"
            ),
            {"d": days, "ids": [str(i) for i in ingestion_ids]},
        )


def _exists(services: Any, ingestion_id: uuid.UUID) -> bool:
    with services.store.read() as tx:
        return tx.ingestions.get(ingestion_id) is not None


def _job_events(services: Any, job: str) -> list[dict[str, Any]]:
    with services.store.read() as tx:
        events, _ = tx.audit.page(action=f"job.{job}")
    return events


def test_prune_is_a_dry_run_by_default_and_records_who_asked(services, tmp_path: Path) -> None:
    old = _loaded(services, tmp_path, seed=1)
    _age(services, [old["id"]], days=40)

    report = prune_retention(services, older_than_days=30, actor="tester")

    assert not report.applied
    assert [row["id"] for row in report.plan.ingestions] == [old["id"]]
    assert report.plan.artifacts > 0 and report.plan.audit_events > 0
    assert _exists(services, old["id"])
    assert services.landing.exists(old["raw_key"])
    [event] = _job_events(services, "prune_retention")
    assert event["actor"] == "tester" and event["details"]["dry_run"] is True


def test_prune_apply_deletes_old_final_ingestions_and_audit_but_no_curated_rows(
    services, tmp_path: Path
) -> None:
    old = _loaded(services, tmp_path, seed=1, rows=7)
    young = _loaded(services, tmp_path, seed=2)
    services.queue = RecordingQueue()
    waiting = register_path(
        services, path=edge_csv(tmp_path, rows=3, seed=3), dataset=DATASET, source="test", actor="test"
    ).ingestion
    _age(services, [old["id"], waiting["id"]], days=40)

    report = prune_retention(services, older_than_days=30, apply=True, actor="tester")

    assert report.ingestions_deleted == 1 and report.audit_events_deleted > 0
    assert not _exists(services, old["id"])
    assert _exists(services, young["id"]) and _exists(services, waiting["id"])  # young; in flight
    assert curated_count(services, DATASET, ingestion_id=old["id"]) == 7  # curated rows stay
    assert services.landing.exists(old["raw_key"])  # raw stays unless asked
    with services.store.engine.connect() as conn:
        artifacts = conn.execute(
            text("SELECT count(*) FROM ingestion_artifacts WHERE ingestion_id = :i"), {"i": old["id"]}
        ).scalar_one()
        old_audit = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE at < now() - interval '30 days'")
        ).scalar_one()
    assert artifacts == 0 and old_audit == 0
    assert _job_events(services, "prune_retention")[0]["details"]["deleted"]["ingestions"] == 1


def test_prune_keeps_an_original_whose_replay_is_kept_and_its_shared_raw_object(
    services, tmp_path: Path
) -> None:
    original = _loaded(services, tmp_path, seed=1)
    lonely = _loaded(services, tmp_path, seed=2)
    again = replay(services, original["id"], actor="test")
    _age(services, [original["id"], lonely["id"]], days=40)

    plan = plan_prune(services, older_than_days=30, include_raw=True)
    assert [row["id"] for row in plan.ingestions] == [lonely["id"]]  # the replay is young
    assert plan.raw_keys == (lonely["raw_key"],)

    report = prune_retention(services, older_than_days=30, apply=True, include_raw=True, actor="tester")

    assert report.raw_deleted == (lonely["raw_key"],)
    assert not services.landing.exists(lonely["raw_key"])
    assert services.landing.exists(original["raw_key"])
    assert _exists(services, original["id"]) and _exists(services, again["id"])

    _age(services, [again["id"]], days=40)  # now both go, the replay first (it points at the original)
    report = prune_retention(services, older_than_days=30, apply=True, include_raw=True, actor="tester")
    assert report.ingestions_deleted == 2
    assert report.raw_deleted == (original["raw_key"],)


def test_prune_refuses_a_retention_shorter_than_a_day(services) -> None:
    with pytest.raises(BadRequest, match="at least 1"):
        plan_prune(services, older_than_days=0)


def test_replay_range_replays_each_original_once_with_progress(services, tmp_path: Path) -> None:
    first = _loaded(services, tmp_path, seed=1, rows=4)
    second = _loaded(services, tmp_path, seed=2, rows=6)
    replay(services, first["id"], actor="test")  # a replay is never itself replayed
    _age(services, [first["id"]], days=3)
    seen: list[tuple[int, int, str]] = []

    report = replay_range(
        services,
        dataset=DATASET,
        actor="tester",
        progress=lambda n, total, row, outcome: seen.append((n, total, outcome)),
    )

    assert [original for original, _ in report.replayed] == [first["id"], second["id"]]
    assert [(n, total) for n, total, _ in seen] == [(1, 2), (2, 2)]
    assert all(outcome.startswith("replayed as ") for _, _, outcome in seen)
    with services.store.read() as tx:
        for original, new in report.replayed:
            row = tx.ingestions.get(new)
            assert row is not None and row["replay_of"] == original and row["status"] == Status.LOADED
    assert _job_events(services, "replay")[0]["actor"] == "tester"

    recent = replay_range(
        services, dataset=DATASET, actor="tester", dry_run=True, since=_days_ago(services, 1)
    )
    assert recent.selected == 1 and not recent.replayed  # only `second` is younger than a day
    assert "would replay 1 of 1" in recent.summary()


def test_replay_range_counts_a_replay_that_ended_failed_exception_as_failed(services, tmp_path: Path) -> None:
    good = _loaded(services, tmp_path, seed=1, rows=4)
    with services.store.engine.begin() as conn:  # an operator's constraint that the replayed rows break
        # An edit since the load, so the replay rewrites the rows (an unchanged row is not written;
        # the edit clears the rows' hashes, so the replay compares them instead of skipping them).
        conn.execute(text(f"UPDATE curated_{DATASET} SET message = 'edited by hand'"))
        conn.execute(
            text(
                f"ALTER TABLE curated_{DATASET} ADD CONSTRAINT no_updates "
                f"CHECK (_ingestion_id = '{good['id']}') NOT VALID"
            )
        )

    report = replay_range(services, dataset=DATASET, actor="tester")

    assert report.replayed == ()
    ((original, error),) = report.failed
    assert original == good["id"] and "ended FAILED_EXCEPTION" in error
    assert report.summary().endswith("skipped 0, failed 1")
    with services.store.read() as tx:
        rows, _ = tx.ingestions.page(dataset=DATASET)
    (new,) = [r for r in rows if r["replay_of"] == good["id"]]
    assert new["status"] == Status.FAILED_EXCEPTION and str(new["id"]) in error  # retryable, and named
    cli = click.Group("eventpulse", commands={c.name: c for c in commands})
    again = CliRunner().invoke(cli, ["replay-range", "--dataset", DATASET], env=_env(services))
    assert again.exit_code == 1 and "failed 1" in again.output, again.output


def _days_ago(services: Any, days: int) -> Any:
    with services.store.engine.connect() as conn:
        return conn.execute(text("SELECT now() - make_interval(days => :d)"), {"d": days}).scalar_one()


def _env(services: Any) -> dict[str, str]:
    settings = services.settings
    return {
        "EVENTPULSE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": str(settings.database_url),
        "EVENTPULSE_CONTRACTS_DIR": str(settings.contracts_dir),
    }


def test_cli_prune_and_replay_range(services, tmp_path: Path) -> None:
    cli = click.Group("eventpulse", commands={c.name: c for c in commands})
    old = _loaded(services, tmp_path, seed=1)
    _age(services, [old["id"]], days=10)

    dry = CliRunner().invoke(cli, ["prune", "--older-than-days", "5"], env=_env(services))
    assert dry.exit_code == 0, dry.output
    assert str(old["id"]) in dry.output and "dry run: nothing was deleted" in dry.output
    assert _exists(services, old["id"])

    replayed = CliRunner().invoke(cli, ["replay-range", "--dataset", DATASET], env=_env(services))
    assert replayed.exit_code == 0, replayed.output
    assert f"[1/1] {old['id']} replayed as" in replayed.output

    applied = CliRunner().invoke(cli, ["prune", "--older-than-days", "5", "--apply"], env=_env(services))
    assert applied.exit_code == 0, applied.output
    assert _exists(services, old["id"])  # kept: its replay is young and points at it
    bad = CliRunner().invoke(cli, ["replay-range", "--dataset", DATASET, "--since", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO 8601 time" in bad.output


def _job_main(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"job_{name}", REPO_ROOT / "jobs" / name / "main.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture
def job_env(services, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in _env(services).items():
        monkeypatch.setenv(key, value)
    yield services
    runtime.close_services()


def test_job_entry_points_return_exit_codes(job_env, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    services = job_env
    old = _loaded(services, tmp_path, seed=1)
    _age(services, [old["id"]], days=10)

    assert _job_main("reclaim_stuck")(["--older-than", "0"]) == 0
    assert _job_main("prune_retention")(["--older-than-days", "5"]) == 0
    assert "would delete: 1 ingestion(s)" in capsys.readouterr().out
    assert _job_main("replay")(["--dataset", DATASET]) == 0
    assert f"[1/1] {old['id']} replayed as" in capsys.readouterr().out
    assert _job_main("replay")(["--dataset", "no_such_dataset"]) == 0  # nothing selected
    assert _job_main("replay")(["--dataset", "Bad-Name"]) == 2
    with pytest.raises(SystemExit) as usage:
        _job_main("prune_retention")([])
    assert usage.value.code == 2


ADMIN = ["/internal/admin/reclaim", "/internal/admin/prune", "/internal/admin/replay", "/internal/admin/nope"]


@pytest.mark.parametrize("path", ADMIN)
@pytest.mark.parametrize("headers", [{}, {"X-Task-Token": "wrong"}, {"X-Task-Token": ""}])
def test_admin_endpoints_refuse_a_missing_or_wrong_task_token(services, path, headers) -> None:
    response = create_app(services).test_client().post(path, json={"older_than_days": 1}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", ADMIN)
def test_admin_endpoints_refuse_a_bearer_token_below_admin(services, path) -> None:
    response = create_app(services).test_client().post(path, json={"older_than_days": 1}, headers=AUTH)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden" and error["details"]["required_role"] == "admin"


def test_admin_endpoints_run_the_jobs_and_audit_the_actor(services, tmp_path: Path) -> None:
    client = create_app(services).test_client()
    old = _loaded(services, tmp_path, seed=1)
    _age(services, [old["id"]], days=10)

    dry = client.post("/internal/admin/prune", json={"older_than_days": 5}, headers=TASK_AUTH)
    assert dry.status_code == 200 and dry.get_json()["dry_run"] is True
    assert dry.get_json()["ingestion_ids"] == [str(old["id"])] and _exists(services, old["id"])

    replayed = client.post(
        "/internal/admin/replay", json={"dataset": DATASET, "requested_by": "ops@example"}, headers=TASK_AUTH
    )
    assert replayed.status_code == 202, replayed.get_json()
    assert [r["original"] for r in replayed.get_json()["replayed"]] == [str(old["id"])]

    reclaimed = client.post("/internal/admin/reclaim", json={"older_than_seconds": 3600}, headers=TASK_AUTH)
    assert reclaimed.status_code == 200
    assert reclaimed.get_json() == {"stale": [], "unqueued": [], "retried": []}

    bad = client.post("/internal/admin/prune", json={"older_than_days": "5"}, headers=TASK_AUTH)
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["parameter"] == "older_than_days"
    assert (
        client.post(
            "/internal/admin/prune", json={"older_than_days": 5, "apply": "yes"}, headers=TASK_AUTH
        ).status_code
        == 400
    )

    assert _job_events(services, "prune_retention")[0]["actor"] == "admin:task"
    assert _job_events(services, "replay")[0]["actor"] == "admin:task (ops@example)"
    assert _job_events(services, "reclaim_stuck")[0]["actor"] == "admin:task"


def test_from_gcs_needs_the_task_token(services) -> None:
    client = create_app(services).test_client()
    for headers in ({}, AUTH, {"X-Task-Token": "wrong"}):
        response = client.post("/api/ingest/from_gcs", json={"name": "raw/x.csv"}, headers=headers)
        assert response.status_code == 401
    missing = client.post("/api/ingest/from_gcs", json={}, headers={"X-Task-Token": TEST_TASK_TOKEN})
    assert missing.status_code == 400

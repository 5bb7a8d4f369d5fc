"""The trends API on real Postgres: known ingestions in, exact counts per bucket, status and group out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from eventpulse.adapters.postgres.tables import drift_changes, ingestions, quality_summaries
from eventpulse.api.app import create_app
from tests.integration.api_support import AUTH, edge_csv, upload

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


@pytest.fixture
def seed(services):  # type: ignore[no-untyped-def]
    """Insert an ingestion created at a known instant; its artifacts go through ``save_artifacts``."""

    def add(
        at: datetime,
        status: str = "LOADED",
        *,
        dataset: str = "edge_telemetry",
        source: str = "api",
        rows_loaded: int | None = None,
        size: int = 100,
        artifacts: dict[str, dict[str, Any]] | None = None,
    ) -> uuid.UUID:
        key = uuid.uuid4()
        with services.store.transaction() as tx:
            tx.connection.execute(
                insert(ingestions).values(
                    id=key,
                    dataset=dataset,
                    filename="f.csv",
                    source=source,
                    raw_key=f"{dataset}/{key.hex}.csv",
                    sha256=key.hex * 2,
                    size_bytes=size,
                    status=status,
                    max_attempts=3,
                    created_by="test",
                    created_at=at,
                    rows_loaded=rows_loaded,
                )
            )
            if artifacts:
                tx.ingestions.save_artifacts(key, artifacts)
        return key

    return add


def quality(*results: tuple[str, str, bool, int]) -> dict[str, Any]:
    return {
        "passed": all(r[2] for r in results),
        "results": [
            {
                "expectation_type": kind,
                "kwargs": {"column": column},
                "severity": "critical",
                "success": ok,
                "unexpected_count": bad,
                "failing_rows": [],
                "sample_values": [],
            }
            for kind, column, ok, bad in results
        ],
    }


def drift(outcome: str, *kinds: str) -> dict[str, Any]:
    changes = [{"kind": k, "column": f"c{i}", "breaking": k == "column_removed"} for i, k in enumerate(kinds)]
    return {"decision": {"outcome": outcome, "changes": changes}, "known_schema": {}, "observed_schema": {}}


def get(client: FlaskClient, route: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/stats/{route}", query_string=params, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


DAYS = {"since": "2026-11-02", "until": "2026-11-05", "bucket": "day"}


def test_ingestions_count_per_day_and_status_with_empty_days_filled(client, seed) -> None:
    seed(MONDAY + timedelta(hours=10), rows_loaded=100, size=1000)
    seed(MONDAY + timedelta(hours=11), rows_loaded=50, size=500)
    seed(MONDAY + timedelta(hours=12), "FAILED_QUALITY", rows_loaded=0, size=10)
    seed(MONDAY + timedelta(hours=13), "PROCESSING", size=1)
    seed(MONDAY + timedelta(days=2, hours=23, minutes=59), "FAILED_DRIFT", size=7)
    seed(MONDAY - timedelta(microseconds=1))  # before since
    seed(MONDAY + timedelta(days=3))  # until is exclusive

    body = get(client, "ingestions", **DAYS)

    starts = [b["start"] for b in body["buckets"]]
    assert starts == ["2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"]
    first, empty, last = body["buckets"]
    assert (first["ingestions"], first["finished"], first["loaded"]) == (4, 3, 2)
    assert {s: n for s, n in first["statuses"].items() if n} == {
        "LOADED": 2,
        "FAILED_QUALITY": 1,
        "PROCESSING": 1,
    }
    assert first["success_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert (first["rows_loaded"], first["bytes"]) == (150, 1511)
    assert (empty["ingestions"], empty["success_rate"], sum(empty["statuses"].values())) == (0, None, 0)
    assert (last["ingestions"], last["success_rate"], last["statuses"]["FAILED_DRIFT"]) == (1, 0.0, 1)
    assert body["totals"]["ingestions"] == 5 and body["totals"]["success_rate"] == 0.5
    assert body["window"] == {
        "since": "2026-11-02T00:00:00Z",
        "until": "2026-11-05T00:00:00Z",
        "bucket": "day",
        "time_zone": "UTC",
        "dataset": None,
        "source": None,
        "group_by": None,
    }


def test_ingestions_group_by_source_and_filter_by_dataset(client, seed) -> None:
    seed(MONDAY + timedelta(hours=1), source="watcher")
    seed(MONDAY + timedelta(hours=2), "FAILED_READ", source="watcher")
    seed(MONDAY + timedelta(hours=3), source="api")
    seed(MONDAY + timedelta(hours=4), dataset="parcels", source="api")

    body = get(client, "ingestions", **DAYS, group_by="source", dataset="EDGE_TELEMETRY")

    assert body["groups"] == ["api", "watcher"]
    groups = {g["key"]: g for g in body["buckets"][0]["groups"]}
    assert (groups["watcher"]["ingestions"], groups["watcher"]["success_rate"]) == (2, 0.5)
    assert (groups["api"]["ingestions"], groups["api"]["success_rate"]) == (1, 1.0)
    assert body["buckets"][0]["ingestions"] == 3 and body["buckets"][1]["groups"] == []
    by_status = get(client, "ingestions", **DAYS, group_by="status", source="api")
    assert [(g["key"], g["ingestions"]) for g in by_status["buckets"][0]["groups"]] == [("LOADED", 2)]


def test_hour_and_week_buckets_start_on_utc_boundaries(client, seed) -> None:
    seed(MONDAY + timedelta(days=6, hours=23))  # Sunday night: still the week of Monday 2 November
    seed(MONDAY + timedelta(days=7, hours=1, minutes=30))  # the next week
    weeks = get(client, "ingestions", since="2026-11-04T12:00:00+02:00", until="2026-11-12", bucket="week")
    assert [(b["start"], b["ingestions"]) for b in weeks["buckets"]] == [
        ("2026-11-02T00:00:00Z", 1),
        ("2026-11-09T00:00:00Z", 1),
    ]
    assert weeks["window"]["since"] == "2026-11-04T10:00:00Z"
    hours = get(
        client, "ingestions", since="2026-11-09T00:30:00Z", until="2026-11-09T03:00:00Z", bucket="hour"
    )
    assert [b["ingestions"] for b in hours["buckets"]] == [0, 1, 0]
    assert hours["buckets"][0]["start"] == "2026-11-09T00:00:00Z"


def test_expectation_pass_rates_per_type_column_and_bucket(client, seed) -> None:
    seed(
        MONDAY, artifacts={"quality": quality((NOT_NULL, "device_id", True, 0), (BETWEEN, "temp", False, 4))}
    )
    seed(
        MONDAY + timedelta(hours=5),
        "FAILED_QUALITY",
        artifacts={"quality": quality((BETWEEN, "temp", False, 3))},
    )
    seed(MONDAY + timedelta(days=2), artifacts={"quality": quality((BETWEEN, "temp", True, 0))})
    same_list = quality((NOT_NULL, "device_id", True, 0), (BETWEEN, "temp", True, 0))
    seed(MONDAY + timedelta(hours=1), artifacts={"quality": same_list})
    seed(MONDAY, dataset="parcels", artifacts={"quality": quality((NOT_NULL, "parcel_id", False, 9))})
    seed(MONDAY, "FAILED_READ")  # no quality report: evaluates nothing

    body = get(client, "expectations", **DAYS, dataset="edge_telemetry")

    series = {(s["expectation_type"], s["column"]): s for s in body["series"]}
    assert set(series) == {(NOT_NULL, "device_id"), (BETWEEN, "temp")}
    temp = series[(BETWEEN, "temp")]
    assert [(p["evaluated"], p["passed"], p["pass_rate"], p["unexpected_rows"]) for p in temp["buckets"]] == [
        (3, 1, pytest.approx(1 / 3, abs=1e-6), 7),
        (0, 0, None, 0),
        (1, 1, 1.0, 0),
    ]
    assert (temp["evaluated"], temp["passed"], temp["severity"], temp["group"]) == (4, 2, "critical", None)
    assert [p["evaluated"] for p in series[(NOT_NULL, "device_id")]["buckets"]] == [2, 0, 0]


def test_expectation_points_land_in_the_bucket_they_start(client, seed) -> None:
    # The store sends each series' points by bucket index; the API lays them on the window's starts.
    failing, passing = quality((BETWEEN, "temp", False, 2)), quality((BETWEEN, "temp", True, 0))
    seed(datetime(2026, 11, 4, 10, tzinfo=UTC), artifacts={"quality": failing})
    seed(datetime(2026, 11, 11, 1, 15, tzinfo=UTC), artifacts={"quality": passing})
    weeks = get(
        client, "expectations", since="2026-11-04T10:00:00Z", until="2026-11-18", bucket="week",
        dataset="edge_telemetry",
    )  # fmt: skip
    (temp,) = weeks["series"]
    assert [(p["start"], p["evaluated"], p["passed"], p["unexpected_rows"]) for p in temp["buckets"]] == [
        ("2026-11-02T00:00:00Z", 1, 0, 2),
        ("2026-11-09T00:00:00Z", 1, 1, 0),
        ("2026-11-16T00:00:00Z", 0, 0, 0),
    ]
    hours = get(
        client, "expectations", since="2026-11-11T00:30:00Z", until="2026-11-11T03:00:00Z", bucket="hour",
        dataset="edge_telemetry",
    )  # fmt: skip
    (temp,) = hours["series"]
    assert [(p["start"], p["evaluated"]) for p in temp["buckets"]] == [
        ("2026-11-11T00:00:00Z", 0),
        ("2026-11-11T01:00:00Z", 1),
        ("2026-11-11T02:00:00Z", 0),
    ]
    assert (temp["evaluated"], temp["pass_rate"]) == (1, 1.0)


def test_expectations_group_by_status_splits_each_series(client, seed) -> None:
    seed(MONDAY, artifacts={"quality": quality((BETWEEN, "temp", True, 0))})
    seed(MONDAY, "FAILED_QUALITY", artifacts={"quality": quality((BETWEEN, "temp", False, 2))})
    body = get(client, "expectations", **DAYS, dataset="edge_telemetry", group_by="status")
    assert [(s["group"], s["pass_rate"]) for s in body["series"]] == [
        ("FAILED_QUALITY", 0.0),
        ("LOADED", 1.0),
    ]


def test_replaced_artifacts_are_counted_once(client, seed, services) -> None:
    key = seed(
        MONDAY,
        artifacts={
            "quality": quality((BETWEEN, "temp", False, 2)),
            "drift": drift("reject", "type_incompatible"),
        },
    )
    with services.store.transaction() as tx:
        tx.ingestions.save_artifacts(
            key, {"quality": quality((BETWEEN, "temp", True, 0)), "drift": drift("accept")}
        )
        facts = tx.connection.execute(select(func.count()).select_from(quality_summaries)).scalar_one()
        changes = tx.connection.execute(select(func.count()).select_from(drift_changes)).scalar_one()
    assert (facts, changes) == (1, 0)
    body = get(client, "expectations", **DAYS, dataset="edge_telemetry")
    assert body["series"][0]["pass_rate"] == 1.0
    assert get(client, "drift", **DAYS)["totals"]["events"] == 0


def test_drift_events_per_bucket_by_outcome_and_kind(client, seed) -> None:
    seed(MONDAY, artifacts={"drift": drift("accept", "column_added", "column_added")})
    seed(
        MONDAY + timedelta(hours=1), "FAILED_DRIFT", artifacts={"drift": drift("reject", "type_incompatible")}
    )
    seed(
        MONDAY + timedelta(hours=2),
        "QUARANTINED",
        source="watcher",
        artifacts={"drift": drift("quarantine", "column_removed")},
    )
    seed(MONDAY + timedelta(hours=3), artifacts={"drift": drift("accept")})  # no change: not an event
    seed(MONDAY + timedelta(days=2), artifacts={"drift": drift("accept", "type_widened")})

    body = get(client, "drift", **DAYS)

    first, empty, last = body["buckets"]
    assert first["events"] == 3
    assert first["outcomes"] == {"accept": 1, "reject": 1, "quarantine": 1}
    assert {k: n for k, n in first["kinds"].items() if n} == {
        "column_added": 2,
        "type_incompatible": 1,
        "column_removed": 1,
    }
    assert (empty["events"], sum(empty["kinds"].values())) == (0, 0)
    assert (last["events"], last["kinds"]["type_widened"]) == (1, 1)
    assert body["totals"]["events"] == 4
    grouped = get(client, "drift", **DAYS, group_by="source")
    groups = {g["key"]: g for g in grouped["buckets"][0]["groups"]}
    assert (groups["api"]["events"], groups["watcher"]["outcomes"]["quarantine"]) == (2, 1)


def test_a_loaded_upload_feeds_the_expectation_trends(client, tmp_path) -> None:
    response = upload(client, edge_csv(tmp_path, seed=3).read_bytes())
    assert response.status_code in (200, 201, 202) and response.get_json()["status"] == "LOADED"
    body = get(client, "expectations", dataset="edge_telemetry", bucket="hour")
    assert body["series"], "the quality report of the load wrote no expectation facts"
    assert all(s["evaluated"] == 1 and s["pass_rate"] == 1.0 for s in body["series"])
    assert len(body["series"][0]["buckets"]) == 30
    assert get(client, "ingestions", bucket="hour")["totals"]["loaded"] == 1


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"since": "2026-11-05", "until": "2026-11-02"}, "since", "must be before until"),
        ({"since": "2026-11-02", "until": "2026-11-02"}, "since", "must be before until"),
        ({"since": "2026-01-01", "until": "2026-03-01", "bucket": "hour"}, "bucket", "more than 1000"),
        ({"group_by": "device"}, "group_by", "'status', 'dataset' or 'source'"),
        ({"bucket": "month"}, "bucket", "'hour', 'day' or 'week'"),
        ({"since": "yesterday"}, "since", "is not valid"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "since", "out of range"),
        ({"until": "0001-01-02"}, "since", "out of range"),
    ],
)
def test_bad_parameters_are_400_envelopes_naming_the_parameter(client, params, parameter, words) -> None:
    for route in ("ingestions", "drift"):
        response = client.get(f"/api/stats/{route}", query_string=params, headers=AUTH)
        assert response.status_code == 400, response.get_json()
        error = response.get_json()["error"]
        assert error["details"]["parameter"] == parameter
        assert words in error["message"], error
        assert error["hint"]


def test_expectations_need_a_valid_dataset(client) -> None:
    missing = client.get("/api/stats/expectations", headers=AUTH)
    assert missing.status_code == 400 and missing.get_json()["error"]["message"] == "dataset is required"
    invalid = client.get("/api/stats/expectations?dataset=9lives", headers=AUTH)
    assert invalid.status_code == 400 and "invalid dataset name" in invalid.get_json()["error"]["message"]


def test_the_largest_window_is_1000_buckets(client) -> None:
    ok = get(client, "ingestions", since="2026-01-01T00:00:00Z", until="2026-02-11T16:00:00Z", bucket="hour")
    assert len(ok["buckets"]) == 1000
    over = client.get(
        "/api/stats/ingestions",
        query_string={"since": "2026-01-01T00:00:00Z", "until": "2026-02-11T16:00:01Z", "bucket": "hour"},
        headers=AUTH,
    )
    assert over.status_code == 400 and over.get_json()["error"]["details"]["limit"] == 1000


def _held(
    services: Any, ingestion_id: uuid.UUID, count: int, *, kind: str = "expectation", status: str = "held"
) -> None:
    from eventpulse.adapters.postgres.tables import quarantined_rows

    with services.store.transaction() as tx:
        tx.connection.execute(
            insert(quarantined_rows),
            [
                {
                    "ingestion_id": ingestion_id,
                    "dataset": "edge_telemetry",
                    "source_row": n + 1,
                    "kind": kind,
                    "failures": [],
                    "values": {},
                    "contract_version": "v",
                    "raw_uri": "file:///x",
                    "status": status,
                }
                for n in range(count)
            ],
        )


def test_quarantined_rows_are_counted_per_bucket_kind_status_and_group(client, services, seed) -> None:
    first = seed(MONDAY + timedelta(hours=1), "PARTIALLY_LOADED", source="api")
    second = seed(MONDAY + timedelta(hours=2), "PARTIALLY_LOADED", source="watcher")
    third = seed(MONDAY + timedelta(days=1, hours=3), "LOADED", source="api")
    seed(MONDAY + timedelta(hours=4), "LOADED")  # no quarantined rows: not counted
    _held(services, first, 3)
    _held(services, first, 1, status="discarded")
    _held(services, second, 2, kind="discard_row", status="discarded")
    _held(services, third, 5, kind="discard_value", status="discarded")
    query = {"since": MONDAY.isoformat(), "until": (MONDAY + timedelta(days=3)).isoformat(), "bucket": "day"}
    body = client.get(
        "/api/stats/quarantine", query_string={**query, "group_by": "source"}, headers=AUTH
    ).get_json()
    monday, tuesday, wednesday = body["buckets"]
    assert (monday["rows"], monday["ingestions"]) == (6, 2)
    assert monday["kinds"] == {"expectation": 4, "discard_row": 2, "discard_value": 0}
    assert monday["statuses"] == {"held": 3, "replayed": 0, "discarded": 3}
    assert {g["key"]: (g["rows"], g["ingestions"]) for g in monday["groups"]} == {
        "api": (4, 1),
        "watcher": (2, 1),
    }
    assert (tuesday["rows"], tuesday["kinds"]["discard_value"]) == (5, 5)
    assert (wednesday["rows"], wednesday["ingestions"], wednesday["groups"]) == (0, 0, [])
    assert (body["totals"]["rows"], body["totals"]["ingestions"]) == (11, 3)
    assert body["groups"] == ["api", "watcher"]
    plain = client.get("/api/stats/quarantine", query_string=query, headers=AUTH).get_json()
    assert [b["rows"] for b in plain["buckets"]] == [6, 5, 0] and plain["totals"]["ingestions"] == 3


def test_a_partial_load_counts_as_a_success(client, seed) -> None:
    seed(MONDAY + timedelta(hours=1), "PARTIALLY_LOADED")
    seed(MONDAY + timedelta(hours=2), "FAILED_QUALITY")
    query = {"since": MONDAY.isoformat(), "until": (MONDAY + timedelta(days=1)).isoformat()}
    (bucket,) = client.get("/api/stats/ingestions", query_string=query, headers=AUTH).get_json()["buckets"]
    assert (bucket["loaded"], bucket["finished"], bucket["success_rate"]) == (1, 2, 0.5)

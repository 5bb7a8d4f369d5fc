"""Mart declarations: what is accepted, what is refused with which key, and freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventpulse.contracts.marts import Freshness, MartSpecError, freshness_status, parse_marts

SQL = "SELECT device_id, count(*) AS n FROM curated_edge_telemetry GROUP BY 1"


def mart(**over: Any) -> dict[str, Any]:
    return {"name": "per_device", "sql": SQL, **over}


def test_a_mart_becomes_a_view_with_its_policy() -> None:
    (spec,) = parse_marts([mart(owner="ops", freshness={"warn_after": "6h", "error_after": "2d"})])
    assert spec.view == "mart_per_device" and spec.owner == "ops"
    assert spec.freshness == Freshness(timedelta(hours=6), timedelta(days=2))
    assert parse_marts(None) == ()


def test_a_trailing_semicolon_is_dropped_and_with_queries_are_queries() -> None:
    (spec,) = parse_marts([mart(sql=SQL + " ;\n")])
    assert spec.sql == SQL
    (cte,) = parse_marts([mart(sql="WITH a AS (SELECT 1 AS x) SELECT x FROM a WHERE 'a;b' <> ''")])
    assert cte.sql.startswith("WITH")


@pytest.mark.parametrize(
    "sql, problem",
    [
        ("SELECT 1; DROP TABLE ingestions", "holds 2 statements"),
        ("DELETE FROM curated_parcels", "is not a query"),
        ("SELECT * INTO stolen FROM ingestions", "is not a query"),
        ("SELEC 1", "does not parse"),
        ("   ", "missing or empty"),
    ],
)
def test_anything_but_one_query_is_refused_naming_the_sql_key(sql: str, problem: str) -> None:
    with pytest.raises(MartSpecError) as caught:
        parse_marts([mart(), mart(name="second", sql=sql)])
    assert caught.value.key == "meta.eventpulse.marts[1].sql"
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    "item, key",
    [
        (mart(name="Bad-Name"), "meta.eventpulse.marts[0].name"),
        (mart(colour="red"), "meta.eventpulse.marts[0].colour"),
        (mart(freshness={"warn_after": "soon"}), "meta.eventpulse.marts[0].freshness.warn_after"),
        (
            mart(freshness={"warn_after": "2d", "error_after": "1d"}),
            "meta.eventpulse.marts[0].freshness.error_after",
        ),
        (mart(owner=7), "meta.eventpulse.marts[0].owner"),
    ],
)
def test_bad_declarations_name_their_key(item: dict[str, Any], key: str) -> None:
    with pytest.raises(MartSpecError) as caught:
        parse_marts([item])
    assert caught.value.key == key and caught.value.fix


def test_two_marts_of_one_name_are_refused() -> None:
    with pytest.raises(MartSpecError) as caught:
        parse_marts([mart(), mart()])
    assert caught.value.key == "meta.eventpulse.marts[1].name"


def test_freshness_follows_the_age_of_the_last_load() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    policy = Freshness(timedelta(hours=1), timedelta(hours=6))
    assert freshness_status(None, now, policy) == "unknown"
    assert freshness_status(now - timedelta(minutes=30), now, policy) == "fresh"
    assert freshness_status(now - timedelta(hours=2), now, policy) == "warn"
    assert freshness_status(now - timedelta(hours=7), now, policy) == "error"
    assert freshness_status(now - timedelta(days=300), now, Freshness()) == "fresh"

"""Migration 0006 backfills the trends' compact facts from the artifacts stored before it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from eventpulse.adapters.postgres.migrate import upgrade


@pytest.fixture
def engine(postgres_admin_url: str) -> Iterator[Engine]:
    """An empty database of its own, so migrations run from the start."""
    name = f"eventpulse_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(postgres_admin_url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


QUALITY = {
    "passed": False,
    "results": [
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "id"},
            "severity": "critical",
            "success": True,
            "unexpected_count": 0,
        },
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["a", "b"]},
            "severity": "warning",
            "success": False,
            "unexpected_count": 3,
        },
        {
            "expectation_type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1},
            "severity": "critical",
            "success": True,
            "unexpected_count": 0,
        },
    ],
}
DRIFT = {
    "decision": {
        "outcome": "reject",
        "changes": [
            {"kind": "column_added", "column": "x", "breaking": False},
            {"kind": "type_incompatible", "column": "y", "breaking": True},
        ],
    }
}


def test_existing_quality_and_drift_artifacts_become_facts(engine) -> None:
    upgrade(engine, "0003")
    key = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingestions (id, dataset, filename, source, raw_key, sha256, size_bytes, status,"
                " max_attempts, created_by) VALUES (:id, 'parcels', 'a.csv', 'api', 'k', 's', 1,"
                " 'FAILED_QUALITY', 3, 'test')"
            ),
            {"id": key},
        )
        for kind, body in (("quality", QUALITY), ("drift", DRIFT), ("lineage", {"eventType": "FAIL"})):
            conn.execute(
                text(
                    "INSERT INTO ingestion_artifacts (ingestion_id, kind, body)"
                    " VALUES (:id, :k, CAST(:b AS jsonb))"
                ),
                {"id": key, "k": kind, "b": json.dumps(body)},
            )

    upgrade(engine)

    with engine.connect() as conn:
        results = conn.execute(
            text(
                "SELECT position, expectation_type, column_name, severity, success, unexpected_count"
                " FROM quality_results ORDER BY position"
            )
        ).all()
        changes = conn.execute(
            text("SELECT position, outcome, kind, column_name, breaking FROM drift_changes ORDER BY position")
        ).all()
    assert [tuple(r) for r in results] == [
        (0, "expect_column_values_to_not_be_null", "id", "critical", True, 0),
        (1, "expect_compound_columns_to_be_unique", "a,b", "warning", False, 3),
        (2, "expect_table_row_count_to_be_between", "", "critical", True, 0),
    ]
    assert [tuple(c) for c in changes] == [
        (0, "reject", "column_added", "x", False),
        (1, "reject", "type_incompatible", "y", True),
    ]

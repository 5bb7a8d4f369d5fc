"""Migration 0009 backfills the trends' compact facts from the artifacts stored before it."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from eventpulse.adapters.postgres.migrate import upgrade
from tests.integration.migration_support import empty_database_engine

engine = empty_database_engine()


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
        summary = conn.execute(
            text(
                "SELECT x.expectation_types, x.column_names, x.severities, s.failed, s.unexpected"
                " FROM quality_summaries s JOIN expectation_sets x ON x.id = s.expectation_set"
            )
        ).one()
        changes = conn.execute(
            text("SELECT position, outcome, kind, column_name, breaking FROM drift_changes ORDER BY position")
        ).all()
    assert tuple(summary) == (
        [
            "expect_column_values_to_not_be_null",
            "expect_compound_columns_to_be_unique",
            "expect_table_row_count_to_be_between",
        ],
        ["id", "a,b", ""],
        ["critical", "warning", "critical"],
        [1],
        [3],
    )
    assert [tuple(c) for c in changes] == [
        (0, "reject", "column_added", "x", False),
        (1, "reject", "type_incompatible", "y", True),
    ]

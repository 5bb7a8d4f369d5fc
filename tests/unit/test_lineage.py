"""OpenLineage RunEvent shape (spec 2-0-2)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from eventpulse.lineage.openlineage import build_run_event, split_dataset_uri
from eventpulse.schema.model import Column, TableSchema

SCHEMA = TableSchema.of([Column("id", "integer", False), Column("name", "string")])
RUN_ID = str(uuid.uuid4())


def _event(**overrides):
    args = dict(
        ingestion_id=RUN_ID,
        dataset="parcels",
        event_type="COMPLETE",
        event_time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        raw_uri="gs://raw-bucket/parcels/abc.csv",
        source_sha256="a" * 64,
        input_schema=SCHEMA,
        output_table="eventpulse.public.curated_parcels",
        output_schema=SCHEMA,
        rows_in=10,
        rows_out=9,
        quality={
            "results": [
                {"expectation_type": "expect_column_values_to_not_be_null", "success": True, "column": "id"},
                {
                    "expectation_config": {"type": "expect_table_row_count_to_be_between", "kwargs": {}},
                    "success": False,
                },
            ]
        },
        drift={"decision": "accept", "changes": []},
        error=None,
        contract_version="c" * 12,
    )
    args.update(overrides)
    return build_run_event(**args)


def test_complete_event_has_the_run_event_envelope():
    event = _event()
    assert event["eventType"] == "COMPLETE"
    assert event["eventTime"] == "2024-05-01T12:00:00Z"
    assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/OpenLineage.json")
    assert event["run"]["runId"] == RUN_ID
    assert event["job"] == {
        "namespace": "eventpulse",
        "name": "ingest.parcels",
        "facets": event["job"]["facets"],
    }
    json.dumps(event)  # plain JSON


def test_every_facet_names_its_producer_and_schema():
    event = _event(error={"message": "boom"}, event_type="FAIL")
    facets = [*event["run"]["facets"].values(), *event["job"]["facets"].values()]
    for ds in [*event["inputs"], *event["outputs"]]:
        facets += [
            *ds["facets"].values(),
            *ds.get("inputFacets", {}).values(),
            *ds.get("outputFacets", {}).values(),
        ]
    assert facets
    for facet in facets:
        assert facet["_producer"] and facet["_schemaURL"].startswith("https://")


def test_input_dataset_carries_schema_assertions_and_row_count():
    [source] = _event()["inputs"]
    assert (source["namespace"], source["name"]) == ("gs://raw-bucket", "parcels/abc.csv")
    assert source["facets"]["schema"]["fields"] == [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string"},
    ]
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"] == [
        {"assertion": "expect_column_values_to_not_be_null", "success": True, "column": "id"},
        {"assertion": "expect_table_row_count_to_be_between", "success": False},
    ]
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == 10


def test_output_dataset_has_column_lineage_and_statistics():
    [target] = _event()["outputs"]
    lineage = target["facets"]["columnLineage"]["fields"]
    assert lineage["name"]["inputFields"] == [
        {
            "namespace": "gs://raw-bucket",
            "name": "parcels/abc.csv",
            "field": "name",
            "transformations": [
                {"type": "DIRECT", "subtype": "IDENTITY", "description": "loaded as is, typed"}
            ],
        }
    ]
    assert lineage["_ingestion_id"]["inputFields"] == []
    assert target["outputFacets"]["outputStatistics"] == {
        "_producer": target["outputFacets"]["outputStatistics"]["_producer"],
        "_schemaURL": target["outputFacets"]["outputStatistics"]["_schemaURL"],
        "rowCount": 9,
    }
    assert {f["name"] for f in target["facets"]["schema"]["fields"]} >= {"id", "_source_row"}


def test_failed_event_reports_error_and_no_output():
    event = _event(
        event_type="FAIL",
        output_table=None,
        output_schema=None,
        rows_out=None,
        error={"message": "drift refused", "code": "drift"},
    )
    assert event["outputs"] == []
    assert event["run"]["facets"]["errorMessage"]["message"] == "drift refused"
    assert "stackTrace" not in event["run"]["facets"]["errorMessage"]


def test_drift_custom_facet_keeps_its_producer_keys():
    facet = _event(drift={"decision": "evolve", "_producer": "spoofed"})["run"]["facets"]["eventpulse_drift"]
    assert facet["decision"] == "evolve"
    assert facet["_producer"] != "spoofed"
    assert facet["contractVersion"] == "c" * 12


def test_naive_event_time_is_refused():
    with pytest.raises(ValueError):
        _event(event_time=datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("file:///data/raw/x.csv", ("file", "/data/raw/x.csv")), ("gs://b/k/x.csv", ("gs://b", "k/x.csv"))],
)
def test_split_dataset_uri_follows_openlineage_naming(uri, expected):
    assert split_dataset_uri(uri) == expected


def test_start_event_names_the_run_and_its_raw_input_only():
    start = _event(
        event_type="START",
        input_schema=None,
        output_table=None,
        output_schema=None,
        rows_in=None,
        rows_out=None,
        quality=None,
        drift=None,
        contract_version=None,
        attempt=(2, 3),
    )
    complete = _event(attempt=(2, 3))
    assert start["eventType"] == "START"
    assert start["run"]["runId"] == complete["run"]["runId"] == RUN_ID
    assert start["job"] == complete["job"]
    (raw,) = start["inputs"]
    assert (raw["namespace"], raw["name"]) == ("gs://raw-bucket", "parcels/abc.csv")
    assert raw["facets"]["version"]["datasetVersion"] == "a" * 64
    assert raw["inputFacets"] == {} and start["outputs"] == []
    assert set(start["run"]["facets"]) == {"eventpulse_attempt"}


def test_attempt_facet_tells_the_attempts_of_one_run_apart():
    facet = _event(attempt=(2, 3))["run"]["facets"]["eventpulse_attempt"]
    assert (facet["attempt"], facet["maxAttempts"]) == (2, 3)
    assert facet["_schemaURL"].endswith("docs/LINEAGE.md#eventpulse_attempt")
    assert "eventpulse_attempt" not in _event()["run"]["facets"]


def test_custom_facet_urls_point_at_sections_of_the_lineage_doc():
    from pathlib import Path

    from eventpulse.lineage.openlineage import SCHEMA_URLS

    doc = (Path(__file__).parents[2] / "docs" / "LINEAGE.md").read_text()
    for name in ("eventpulse_drift", "eventpulse_attempt"):
        assert SCHEMA_URLS[name].endswith(f"docs/LINEAGE.md#{name}")
        assert f"#### {name}\n" in doc

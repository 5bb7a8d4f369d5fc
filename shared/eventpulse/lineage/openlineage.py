"""OpenLineage RunEvents for ingestions, as plain JSON-ready dicts (pure: no I/O, no client library).

Spec 2-0-2. The event is built by hand rather than with ``openlineage-python``: we only emit, the shape is
a dozen keys pinned by tests, and the client would add attrs/requests dependencies to every function.

Dataset naming follows the OpenLineage conventions: ``gs://bucket`` + object path for GCS, ``file`` +
absolute path for local files, and ``postgres://host:port`` + ``database.schema.table`` for outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from eventpulse import __version__
from eventpulse.curate.ddl import PG_TYPES, RESERVED_COLUMNS
from eventpulse.schema.model import TableSchema

PRODUCER = f"https://github.com/eventpulse/eventpulse/tree/v{__version__}"
SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets"
SCHEMA_URLS = {
    "schema": f"{_FACETS}/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "dataQualityAssertions": (
        f"{_FACETS}/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
    ),
    "dataQualityMetrics": (
        f"{_FACETS}/1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet"
    ),
    "columnLineage": f"{_FACETS}/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
    "outputStatistics": (
        f"{_FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
    ),
    "errorMessage": f"{_FACETS}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "jobType": f"{_FACETS}/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "eventpulse_drift": (
        f"https://github.com/eventpulse/eventpulse/blob/v{__version__}/docs/LINEAGE.md#eventpulse_drift"
    ),
    "eventpulse_attempt": (
        f"https://github.com/eventpulse/eventpulse/blob/v{__version__}/docs/LINEAGE.md#eventpulse_attempt"
    ),
    "eventpulse_device": (
        f"https://github.com/eventpulse/eventpulse/blob/v{__version__}/docs/LINEAGE.md#eventpulse_device"
    ),
}
EventType = Literal["START", "COMPLETE", "FAIL"]
"""The run states EventPulse reports: START after the claim, COMPLETE or FAIL when the attempt ends."""
_LINEAGE_DESCRIPTIONS = {
    "_ingestion_id": "the EventPulse ingestion (this run's runId) that last wrote the row",
    "_loaded_at": "when that ingestion's transaction loaded the row (UTC)",
    "_source_sha256": "sha256 of the raw file the row came from",
    "_source_row": "1-based row number of the row in that raw file",
    "_contract_version": "content hash of the contract the row was validated against",
    "_row_hash": "128-bit hash of the row's key and data as last written (a replay skips equal rows)",
}


def build_run_event(
    *,
    ingestion_id: str,
    dataset: str,
    event_type: EventType,
    event_time: datetime,
    raw_uri: str,
    source_sha256: str,
    input_schema: TableSchema | None,
    output_table: str | None,
    output_schema: TableSchema | None,
    rows_in: int | None,
    rows_out: int | None,
    quality: Mapping[str, Any] | None,
    drift: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None,
    contract_version: str | None,
    namespace: str = "eventpulse",
    output_namespace: str = "postgres://localhost:5432",
    attempt: tuple[int, int] | None = None,
    device_id: str | None = None,
) -> dict[str, Any]:
    """Build an OpenLineage RunEvent of one ingestion: its START, or the COMPLETE or FAIL closing it.

    Args:
        ingestion_id: the ingestion's UUID, used as the run's runId.
        raw_uri: the raw landing object (``file:///...`` or ``gs://bucket/key``): the input dataset.
        output_table: ``database.schema.table`` of the curated table, or None when nothing was loaded.
        quality: ``{"results": [{"expectation_type", "success", "column"?}, ...]}``; GX result dicts
            (``expectation_config.type`` / ``.kwargs.column``) are read too.
        drift: the drift decision, copied into the custom ``eventpulse_drift`` run facet.
        error: ``{"message", "code"?, "stack_trace"?}``, reported as the ``errorMessage`` facet.
        output_namespace: where ``output_table`` lives (``postgres://host:port``).
        attempt: (attempt, max_attempts) of this processing attempt, the ``eventpulse_attempt`` run
            facet: every attempt of one ingestion reports under the same runId (docs/LINEAGE.md).

    Returns:
        A JSON-serialisable dict.
    """
    if event_time.tzinfo is None:
        raise ValueError("event_time must be timezone-aware")
    input_dataset = _build_input(raw_uri, source_sha256, input_schema, rows_in, quality)
    outputs = []
    if output_table is not None:
        outputs.append(_build_output(output_namespace, output_table, output_schema, rows_out, input_dataset))
    return {
        "eventType": event_type,
        "eventTime": _iso_utc(event_time),
        "producer": PRODUCER,
        "schemaURL": SPEC_URL,
        "run": {
            "runId": ingestion_id,
            "facets": _build_run_facets(drift, error, contract_version, attempt, device_id),
        },
        "job": {
            "namespace": namespace,
            "name": f"ingest.{dataset}",
            "facets": {
                "jobType": _facet(
                    "jobType", processingType="BATCH", integration="EVENTPULSE", jobType="INGESTION"
                )
            },
        },
        "inputs": [input_dataset],
        "outputs": outputs,
    }


def split_dataset_uri(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a raw object URI."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", parts.path
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    return parts.scheme or "file", parts.path or uri


def _facet(name: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": SCHEMA_URLS[name], **fields}


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _build_input(
    raw_uri: str,
    source_sha256: str,
    schema: TableSchema | None,
    rows_in: int | None,
    quality: Mapping[str, Any] | None,
) -> dict[str, Any]:
    ns, name = split_dataset_uri(raw_uri)
    facets: dict[str, Any] = {}
    if schema is not None:
        facets["schema"] = _facet("schema", fields=[{"name": c.name, "type": c.type} for c in schema])
    input_facets: dict[str, Any] = {}
    if quality is not None:
        assertions = [_assertion(r) for r in quality.get("results", [])]
        input_facets["dataQualityAssertions"] = _facet("dataQualityAssertions", assertions=assertions)
    if rows_in is not None:
        input_facets["dataQualityMetrics"] = _facet("dataQualityMetrics", rowCount=rows_in, columnMetrics={})
    dataset: dict[str, Any] = {"namespace": ns, "name": name, "facets": facets, "inputFacets": input_facets}
    # The content hash identifies the exact bytes; version is the spec's place for it.
    facets["version"] = {
        "_producer": PRODUCER,
        "_schemaURL": f"{_FACETS}/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
        "datasetVersion": source_sha256,
    }
    return dataset


def _assertion(result: Mapping[str, Any]) -> dict[str, Any]:
    config = result.get("expectation_config") or {}
    kwargs = config.get("kwargs") or {}
    expectation = result.get("expectation_type") or result.get("type") or config.get("type") or "unknown"
    out: dict[str, Any] = {"assertion": str(expectation), "success": bool(result.get("success"))}
    column = result.get("column", kwargs.get("column"))
    if column is not None:
        out["column"] = str(column)
    return out


def _build_output(
    namespace: str,
    table: str,
    schema: TableSchema | None,
    rows_out: int | None,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if schema is not None:
        fields = [{"name": c.name, "type": PG_TYPES[c.type]} for c in schema]
        fields += [
            {"name": n, "type": t, "description": _LINEAGE_DESCRIPTIONS[n]} for n, t in RESERVED_COLUMNS
        ]
        facets["schema"] = _facet("schema", fields=fields)
        facets["columnLineage"] = _facet("columnLineage", fields=_column_lineage(schema.names, source))
    output_facets: dict[str, Any] = {}
    if rows_out is not None:
        output_facets["outputStatistics"] = _facet("outputStatistics", rowCount=rows_out)
    return {"namespace": namespace, "name": table, "facets": facets, "outputFacets": output_facets}


def _column_lineage(names: Sequence[str], source: Mapping[str, Any]) -> dict[str, Any]:
    identity = [{"type": "DIRECT", "subtype": "IDENTITY", "description": "loaded as is, typed"}]
    fields: dict[str, Any] = {
        name: {
            "inputFields": [
                {
                    "namespace": source["namespace"],
                    "name": source["name"],
                    "field": name,
                    "transformations": identity,
                }
            ]
        }
        for name in names
    }
    for name, _ in RESERVED_COLUMNS:
        # Set by the ingestion itself, not derived from any input column.
        fields[name] = {"inputFields": [], "transformationDescription": _LINEAGE_DESCRIPTIONS[name]}
    return fields


def _build_run_facets(
    drift: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None,
    contract_version: str | None,
    attempt: tuple[int, int] | None,
    device_id: str | None = None,
) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if device_id is not None:  # the file came from a field device: lineage per device
        facets["eventpulse_device"] = _facet("eventpulse_device", deviceId=device_id)
    if attempt is not None:
        facets["eventpulse_attempt"] = _facet(
            "eventpulse_attempt", attempt=attempt[0], maxAttempts=attempt[1]
        )
    if error is not None:
        fields: dict[str, Any] = {"message": str(error.get("message", "")), "programmingLanguage": "python"}
        if error.get("stack_trace"):
            fields["stackTrace"] = str(error["stack_trace"])
        facets["errorMessage"] = _facet("errorMessage", **fields)
    if drift is not None or contract_version is not None:
        # The facet's own keys win over same-named keys of the drift decision.
        facets["eventpulse_drift"] = {
            **dict(drift or {}),
            **_facet("eventpulse_drift", contractVersion=contract_version),
        }
    return facets

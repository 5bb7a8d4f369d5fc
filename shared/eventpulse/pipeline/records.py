"""The artifacts each ingestion leaves behind: the drift record and the OpenLineage run event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.model import Contract
from eventpulse.curate.ddl import curated_table_name
from eventpulse.devices.binding import device_of_source
from eventpulse.lineage.openlineage import EventType, build_run_event
from eventpulse.schema.drift import DriftDecision
from eventpulse.schema.model import TableSchema

if TYPE_CHECKING:
    from eventpulse.ports import Row, Services


def drift_artifact(
    known: TableSchema, observed: TableSchema, decision: DriftDecision, contract: Contract
) -> dict[str, Any]:
    return {
        "decision": decision.to_dict(),
        "known_schema": known.to_dict(),
        "known_fingerprint": known.fingerprint(),
        "observed_schema": observed.to_dict(),
        "observed_fingerprint": observed.fingerprint(),
        "policy": contract.drift_policy.to_dict(),
        "contract_version": contract.version,
    }


def build_lineage(
    services: Services,
    row: Row,
    event_type: EventType,
    *,
    observed: TableSchema | None = None,
    contract: Contract | None = None,
    drift: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
    output_schema: TableSchema | None = None,
    rows_in: int | None = None,
    rows_out: int | None = None,
) -> dict[str, Any]:
    dataset = str(row["dataset"])
    namespace, database = services.store.location()
    return build_run_event(
        ingestion_id=str(row["id"]),
        dataset=dataset,
        event_type=event_type,
        event_time=services.clock.now(),
        raw_uri=services.landing.uri(str(row["raw_key"])),
        source_sha256=str(row["sha256"]),
        input_schema=observed,
        output_table=f"{database}.public.{curated_table_name(dataset)}"
        if output_schema is not None
        else None,
        output_schema=output_schema,
        rows_in=rows_in,
        rows_out=rows_out,
        quality=quality,
        drift=drift,
        error=error,
        contract_version=contract.version if contract else None,
        output_namespace=namespace,
        attempt=(int(row["attempts"]), int(row["max_attempts"])) if "attempts" in row else None,
        device_id=device_of_source(row.get("source")),
    )

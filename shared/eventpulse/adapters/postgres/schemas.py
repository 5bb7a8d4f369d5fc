"""The dataset aggregate: a dataset's row, its accepted schema history and its contract versions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from eventpulse.adapters.postgres.audit import PgAuditLog
from eventpulse.adapters.postgres.tables import contract_versions, dataset_schemas, datasets, ingestions
from eventpulse.ports import Row
from eventpulse.schema.model import TableSchema


class PgSchemas:
    def __init__(self, conn: Connection, audit: PgAuditLog):
        self._conn = conn
        self._audit = audit

    def lock_dataset(self, dataset: str, curated_table: str) -> Row:
        self._conn.execute(
            pg_insert(datasets)
            .values(name=dataset, curated_table=curated_table)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = self._conn.execute(select(datasets).where(datasets.c.name == dataset).with_for_update()).one()
        return dict(row._mapping)

    def update_dataset(self, dataset: str, **fields: Any) -> None:
        self._conn.execute(
            update(datasets).where(datasets.c.name == dataset).values(updated_at=func.now(), **fields)
        )

    def list_datasets(self) -> list[Row]:
        counts = (
            select(
                ingestions.c.dataset,
                func.count().label("ingestions"),
                func.max(ingestions.c.created_at).label("last_ingestion_at"),
            )
            .group_by(ingestions.c.dataset)
            .subquery()
        )
        rows = self._conn.execute(
            select(datasets, counts.c.ingestions, counts.c.last_ingestion_at)
            .select_from(datasets.outerjoin(counts, counts.c.dataset == datasets.c.name))
            .order_by(datasets.c.name)
        ).all()
        return [dict(r._mapping) for r in rows]

    def latest(self, dataset: str) -> tuple[int, TableSchema] | None:
        row = self._conn.execute(
            select(dataset_schemas.c.version, dataset_schemas.c.schema)
            .where(dataset_schemas.c.dataset == dataset)
            .order_by(dataset_schemas.c.version.desc())
            .limit(1)
        ).first()
        return (row.version, TableSchema.from_dict(row.schema)) if row else None

    def append(
        self,
        *,
        dataset: str,
        schema: TableSchema,
        contract_version: str | None,
        ingestion_id: uuid.UUID | None,
        reason: str,
        actor: str,
    ) -> int:
        latest = self._conn.execute(
            select(func.coalesce(func.max(dataset_schemas.c.version), 0)).where(
                dataset_schemas.c.dataset == dataset
            )
        ).scalar_one()
        version = int(latest) + 1
        self._conn.execute(
            insert(dataset_schemas).values(
                dataset=dataset,
                version=version,
                fingerprint=schema.fingerprint(),
                schema=schema.to_dict(),
                contract_version=contract_version,
                ingestion_id=ingestion_id,
                reason=reason,
                accepted_by=actor,
            )
        )
        self._audit.record(
            actor=actor,
            action="schema.accepted",
            entity_type="dataset",
            entity_id=dataset,
            dataset=dataset,
            details={"version": version, "fingerprint": schema.fingerprint(), "reason": reason},
        )
        return version

    def history(self, dataset: str) -> list[Row]:
        rows = self._conn.execute(
            select(dataset_schemas)
            .where(dataset_schemas.c.dataset == dataset)
            .order_by(dataset_schemas.c.version)
        ).all()
        return [dict(r._mapping) for r in rows]

    def remember_contract_version(
        self, *, dataset: str, version: str, body: Mapping[str, Any], actor: str
    ) -> bool:
        inserted = self._conn.execute(
            pg_insert(contract_versions)
            .values(dataset=dataset, version=version, body=dict(body))
            .on_conflict_do_nothing(index_elements=["dataset", "version"])
            .returning(contract_versions.c.version)
        ).first()
        if inserted is not None:
            self._audit.record(
                actor=actor,
                action="contract.version_seen",
                entity_type="dataset",
                entity_id=dataset,
                dataset=dataset,
                details={"contract_version": version},
            )
        return inserted is not None

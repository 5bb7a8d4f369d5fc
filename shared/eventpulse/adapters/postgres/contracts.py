"""The ``Contracts`` port on Postgres: adoptions (which version is current) over stored versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from eventpulse.adapters.postgres.audit import PgAuditLog
from eventpulse.adapters.postgres.tables import contract_adoptions, contract_versions
from eventpulse.ports import ContractRecord, ContractSource, Row


class PgContracts:
    def __init__(self, conn: Connection, audit: PgAuditLog):
        self._conn = conn
        self._audit = audit

    def current(self, dataset: str) -> ContractRecord | None:
        row = self._conn.execute(
            select(
                contract_adoptions.c.dataset,
                contract_adoptions.c.version,
                contract_adoptions.c.source,
                contract_adoptions.c.adopted_by,
                contract_adoptions.c.adopted_at,
                contract_versions.c.body,
            )
            .join(
                contract_versions,
                (contract_versions.c.dataset == contract_adoptions.c.dataset)
                & (contract_versions.c.version == contract_adoptions.c.version),
            )
            .where(contract_adoptions.c.dataset == dataset)
            .order_by(contract_adoptions.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return ContractRecord(
            dataset=row.dataset,
            version=row.version,
            body=dict(row.body),
            source=cast(ContractSource, row.source),
            adopted_by=row.adopted_by,
            adopted_at=row.adopted_at,
        )

    def adopt(
        self,
        *,
        dataset: str,
        version: str,
        body: Mapping[str, Any],
        source: ContractSource,
        actor: str,
        note: str | None = None,
    ) -> tuple[ContractRecord, bool]:
        current = self.current(dataset)
        if self._unchanged(dataset, version, source, current) and current is not None:
            return current, False  # the common case, without waiting on a lock
        # One adopter per dataset at a time: two processes reading the same new file adopt it once.
        self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('eventpulse.contract:' || :dataset))"),
            {"dataset": dataset},
        )
        current = self.current(dataset)
        if self._unchanged(dataset, version, source, current) and current is not None:
            return current, False
        self._conn.execute(
            pg_insert(contract_versions)
            .values(dataset=dataset, version=version, body=dict(body))
            .on_conflict_do_nothing(index_elements=["dataset", "version"])
        )
        self._conn.execute(
            insert(contract_adoptions).values(
                dataset=dataset, version=version, source=source, adopted_by=actor, note=note
            )
        )
        self._audit.record(
            actor=actor,
            action="contract.adopted",
            entity_type="dataset",
            entity_id=dataset,
            dataset=dataset,
            details={
                "contract_version": version,
                "previous_version": current.version if current is not None else None,
                "source": source,
                **({"note": note} if note else {}),
            },
        )
        adopted = self.current(dataset)
        assert adopted is not None  # inserted just above, in this transaction
        return adopted, adopted.version != (current.version if current is not None else None)

    def _unchanged(
        self, dataset: str, version: str, source: ContractSource, current: ContractRecord | None
    ) -> bool:
        if source == "file":
            return self._last_version_from(dataset, "file") == version
        return current is not None and current.version == version

    def _last_version_from(self, dataset: str, source: ContractSource) -> str | None:
        return self._conn.execute(
            select(contract_adoptions.c.version)
            .where(contract_adoptions.c.dataset == dataset, contract_adoptions.c.source == source)
            .order_by(contract_adoptions.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    def version(self, dataset: str, version: str) -> Row | None:
        row = self._conn.execute(
            select(contract_versions).where(
                contract_versions.c.dataset == dataset, contract_versions.c.version == version
            )
        ).first()
        return dict(row._mapping) if row is not None else None

    def history(self, dataset: str, *, limit: int = 100) -> list[Row]:
        rows = self._conn.execute(
            select(
                contract_adoptions.c.version,
                contract_adoptions.c.source,
                contract_adoptions.c.adopted_by,
                contract_adoptions.c.adopted_at,
                contract_adoptions.c.note,
            )
            .where(contract_adoptions.c.dataset == dataset)
            .order_by(contract_adoptions.c.id.desc())
            .limit(limit)
        ).all()
        return [dict(r._mapping) for r in rows]

    def datasets(self) -> list[str]:
        return list(
            self._conn.execute(
                select(func.distinct(contract_adoptions.c.dataset)).order_by(contract_adoptions.c.dataset)
            ).scalars()
        )

"""The ``Marts`` port on Postgres: each mart a view ``mart_<name>``, its state in the ``marts`` table.

Creating a view is tried in a savepoint, so a mart PostgreSQL refuses never aborts the transaction
around it (a contract file's adoption, a load). A curated table's DDL (a widened type) would be
refused while a view reads the column, so ``set_aside`` drops the marts for the DDL and recreates
them right after, in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DatabaseError

from eventpulse.adapters.postgres.audit import PgAuditLog
from eventpulse.adapters.postgres.refusals import sqlstate_of
from eventpulse.adapters.postgres.tables import datasets, ingestions, marts
from eventpulse.curate.ddl import quote_ident
from eventpulse.errors import MartRefused
from eventpulse.ports import MartDefinition, Row
from eventpulse.states import LOADED_STATES

LOADED = [s.value for s in LOADED_STATES]
"""A partial load still brought the rows that passed: the mart is fresh."""
UNDEFINED_TABLE = "42P01"
VIEW_SHAPE_CHANGED = "42P16"
"""CREATE OR REPLACE VIEW cannot drop, rename or retype a column: drop the view and create it."""
_MISSING_RELATION = re.compile(r'relation "([^"]+)" does not exist')
COUNT_TIMEOUT_MS = 2000
"""A catalog read counts each mart's rows for at most this long (then ``rows`` is null)."""


class PgMarts:
    def __init__(self, conn: Connection, audit: PgAuditLog):
        self._conn = conn
        self._audit = audit

    # --- declaring ------------------------------------------------------------------------------

    def apply(
        self,
        dataset: str,
        specs: Sequence[MartDefinition],
        *,
        contract_version: str,
        strict: bool,
        actor: str,
    ) -> list[Row]:
        existing = {str(r["name"]): r for r in self._rows()}
        outcomes: dict[str, str] = {}
        for index, spec in enumerate(specs):
            owner = existing.get(spec.name)
            if owner is not None and owner["dataset"] != dataset:
                if strict:
                    raise MartRefused(
                        f"mart {spec.name!r} already belongs to dataset {owner['dataset']!r}",
                        hint="give the mart another name (mart names are shared by every dataset)",
                        details={"key": f"meta.eventpulse.marts[{index}].name", "mart": spec.name},
                    )
                outcomes[spec.name] = f"skipped: belongs to {owner['dataset']}"
                continue
            status, error = self._create(spec.view, spec.sql)
            if status == "error" and strict:
                raise MartRefused(
                    f"mart {spec.name!r} does not compile: {error}",
                    hint="fix its sql (it runs as CREATE VIEW mart_<name> AS <sql>) and save again",
                    details={"key": f"meta.eventpulse.marts[{index}].sql", "mart": spec.name},
                )
            self._record(dataset, spec, status, error, contract_version)
            outcomes[spec.name] = status
        declared = {s.name for s in specs}
        for name, row in existing.items():
            if row["dataset"] == dataset and name not in declared:
                self._conn.exec_driver_sql(f"DROP VIEW IF EXISTS {quote_ident(str(row['view_name']))}")
                self._conn.execute(delete(marts).where(marts.c.name == name))
                outcomes[name] = "dropped"
        self.retry_pending()  # a mart over another mart may have waited for it
        if outcomes:
            self._audit.record(
                actor=actor,
                action="mart.applied",
                entity_type="dataset",
                entity_id=dataset,
                dataset=dataset,
                details={"contract_version": contract_version, "marts": outcomes},
            )
        return [r for r in self._rows() if r["dataset"] == dataset]

    def retry_pending(self) -> list[str]:
        created: list[str] = []
        # A mart row another transaction holds is that one's to retry: a load creating the table the
        # mart reads, or setting the marts aside for its DDL, retries them before it commits. Waiting
        # for it would hold a contract's adoption (a new dataset's first registration) until another
        # dataset's load commits, minutes later.
        waiting = [
            dict(r._mapping)
            for r in self._conn.execute(
                select(marts)
                .where(marts.c.status != "ok")
                .order_by(marts.c.name)
                .with_for_update(skip_locked=True)
            )
        ]
        progress = True
        while waiting and progress:  # one mart may read another: retry until nothing moves
            progress = False
            for row in list(waiting):
                status, error = self._create(str(row["view_name"]), str(row["sql"]))
                self._set_status(str(row["name"]), status, error)
                if status == "ok":
                    created.append(str(row["name"]))
                    waiting.remove(row)
                    progress = True
        return created

    @contextmanager
    def set_aside(self) -> Iterator[None]:
        """Drop every created mart for the duration of a curated table's DDL, then recreate them."""
        views = [r for r in self._rows() if r["status"] == "ok"]
        if views:
            names = ", ".join(quote_ident(str(r["view_name"])) for r in views)
            self._conn.exec_driver_sql(f"DROP VIEW IF EXISTS {names}")
            for row in views:
                self._set_status(str(row["name"]), "pending", "set aside for a curated table change")
        yield
        if views:
            self.retry_pending()

    def _create(self, view: str, sql: str) -> tuple[str, str | None]:
        """``ok``, or ``pending``/``error`` with Postgres's message; the transaction stays usable."""
        relation = quote_ident(view)
        try:
            with self._conn.begin_nested():
                self._conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {relation} AS {sql}")
            return "ok", None
        except DatabaseError as exc:
            if sqlstate_of(exc) != VIEW_SHAPE_CHANGED:
                return _failed(exc)
        try:  # the columns changed shape: replace the view (marts reading it wait in pending)
            with self._conn.begin_nested():
                for row in self._rows():
                    if row["status"] == "ok" and row["view_name"] != view:
                        self._set_status(str(row["name"]), "pending", f"{view} was recreated")
                self._conn.exec_driver_sql(f"DROP VIEW {relation} CASCADE")
                self._conn.exec_driver_sql(f"CREATE VIEW {relation} AS {sql}")
            return "ok", None
        except DatabaseError as exc:
            return _failed(exc)

    def _record(
        self, dataset: str, spec: MartDefinition, status: str, error: str | None, version: str
    ) -> None:
        values: dict[str, Any] = {
            "dataset": dataset,
            "view_name": spec.view,
            "sql": spec.sql,
            "description": spec.description,
            "owner": spec.owner,
            "freshness": spec.freshness.to_dict(),
            "status": status,
            "error": error,
            "contract_version": version,
        }
        statement = pg_insert(marts).values(name=spec.name, **values)
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["name"], set_={**values, "updated_at": statement.excluded.updated_at}
            )
        )

    def _set_status(self, name: str, status: str, error: str | None) -> None:
        self._conn.execute(update(marts).where(marts.c.name == name).values(status=status, error=error))

    def _rows(self) -> list[Row]:
        return [dict(r._mapping) for r in self._conn.execute(select(marts).order_by(marts.c.name))]

    # --- the catalog ----------------------------------------------------------------------------

    def catalog(self) -> list[Row]:
        rows = self._rows()
        if not rows:
            return []
        found = self._conn.execute(select(datasets.c.curated_table, datasets.c.name))
        tables = {str(table): str(name) for table, name in found}
        out: list[Row] = []
        for row in rows:
            view = str(row["view_name"])
            reads = self._reads(view) if row["status"] == "ok" else []
            upstream = sorted({tables[t] for t in reads if t in tables})
            out.append(
                {
                    **row,
                    "columns": self._columns(view) if row["status"] == "ok" else [],
                    "reads": reads,
                    "upstream_datasets": upstream,
                    "last_load_at": self._last_load(upstream),
                    "rows": self._count(view) if row["status"] == "ok" else None,
                }
            )
        return out

    def _columns(self, view: str) -> list[Row]:
        result = self._conn.exec_driver_sql(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (quote_ident(view),),
        )
        return [{"name": str(name), "type": str(pg_type)} for name, pg_type in result]

    def _reads(self, view: str) -> list[str]:
        result = self._conn.exec_driver_sql(
            "SELECT DISTINCT table_name FROM information_schema.view_table_usage "
            "WHERE view_schema = current_schema() AND view_name = %s ORDER BY table_name",
            (view,),
        )
        return [str(name) for (name,) in result]

    def _last_load(self, upstream: list[str]) -> Any:
        if not upstream:
            return None
        return self._conn.execute(
            select(ingestions.c.finished_at)
            .where(ingestions.c.dataset.in_(upstream), ingestions.c.status.in_(LOADED))
            .order_by(ingestions.c.finished_at.desc().nulls_last())
            .limit(1)
        ).scalar_one_or_none()

    def _count(self, view: str) -> int | None:
        try:
            with self._conn.begin_nested():
                previous = self._conn.exec_driver_sql("SHOW statement_timeout").scalar_one()
                self._conn.exec_driver_sql(f"SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}")
                count = self._conn.exec_driver_sql(f"SELECT count(*) FROM {quote_ident(view)}").scalar_one()
                self._conn.exec_driver_sql(
                    "SELECT set_config('statement_timeout', %s, true)", (str(previous),)
                )
            return int(count)
        except DatabaseError:
            return None  # too slow to count within the budget, or the view broke meanwhile


def _failed(exc: DatabaseError) -> tuple[str, str]:
    raw = getattr(exc, "orig", exc)
    fields = raw.args[0] if getattr(raw, "args", None) else None
    message = str(fields.get("M", exc)) if isinstance(fields, dict) else str(exc)
    if isinstance(fields, dict) and fields.get("H"):
        message += f" (hint: {fields['H']})"
    # A curated table (or another mart) that does not exist *yet* is created by a later load: wait.
    missing = _MISSING_RELATION.search(message) if sqlstate_of(exc) == UNDEFINED_TABLE else None
    waits = missing is not None and missing.group(1).startswith(("curated_", "mart_"))
    return ("pending" if waits else "error"), message

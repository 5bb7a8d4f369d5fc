"""The ``MetadataStore`` port on Postgres: one pooled engine, one ``Transaction`` per ``with`` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from eventpulse.adapters.postgres.audit import PgAuditLog
from eventpulse.adapters.postgres.contracts import PgContracts
from eventpulse.adapters.postgres.curated import PgCuratedTables
from eventpulse.adapters.postgres.engine import is_reachable
from eventpulse.adapters.postgres.ingestions import PgIngestions
from eventpulse.adapters.postgres.lineage_outbox import PgLineageOutbox
from eventpulse.adapters.postgres.marts import PgMarts
from eventpulse.adapters.postgres.outage import connection_lost
from eventpulse.adapters.postgres.quarantine import PgQuarantinedRows
from eventpulse.adapters.postgres.schemas import PgSchemas
from eventpulse.adapters.postgres.sources import PgSourceObjects
from eventpulse.adapters.postgres.stats import PgStatistics


class PgTransaction:
    """Every aggregate on one SQLAlchemy connection, so all they do commits together."""

    def __init__(self, conn: Connection):
        self.connection = conn
        self.audit = PgAuditLog(conn)
        self.ingestions = PgIngestions(conn, self.audit)
        self.schemas = PgSchemas(conn, self.audit)
        self.contracts = PgContracts(conn, self.audit)
        self.sources = PgSourceObjects(conn)
        self.marts = PgMarts(conn, self.audit)
        self.curated = PgCuratedTables(conn, self.marts)
        self.lineage = PgLineageOutbox(conn)
        self.quarantine = PgQuarantinedRows(conn, self.audit)
        self.stats = PgStatistics(conn)


class PostgresStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[PgTransaction]:
        with self.engine.begin() as conn:
            yield PgTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[PgTransaction]:
        # engine.connect() rolls back at the end: nothing done through a read view is kept.
        with self.engine.connect() as conn:
            yield PgTransaction(conn)

    def is_reachable(self) -> bool:
        return is_reachable(self.engine)

    def connection_lost(self, exc: BaseException) -> bool:
        return connection_lost(exc)

    def migrate(self) -> None:
        from eventpulse.adapters.postgres.migrate import upgrade

        upgrade(self.engine)

    def location(self) -> tuple[str, str]:
        url = self.engine.url
        host = url.host or "localhost"  # the embedded server listens on a Unix socket only
        return f"postgres://{host}:{url.port or 5432}", url.database or "postgres"

    def close(self) -> None:
        self.engine.dispose()

"""The ports: one ``Protocol`` per kind of I/O the core needs, and the value types that cross them.

Orchestration (``pipeline/``, ``landing/``, ``jobs/``, ``cloud/``, ``api/``) speaks only these; the
adapters in ``eventpulse/adapters`` implement them; ``bootstrap.py`` builds them from settings. The
package imports nothing else of ours at run time, so every layer can depend on it without a cycle.
``store.py`` is the metadata store (split by aggregate), ``landing.py`` the raw landing,
``services.py`` the clock, the task queue and the ``Services`` a process hands to the core.
"""

from eventpulse.ports.landing import BucketLanding, RawLanding, RawObject, StoredObject
from eventpulse.ports.services import Clock, LineageSink, Services, TaskQueue
from eventpulse.ports.store import (
    AuditLog,
    ContractRecord,
    Contracts,
    ContractSource,
    CuratedLoad,
    CuratedTables,
    Ingestions,
    LineageOutbox,
    LineageValues,
    LoadStats,
    Marts,
    MetadataStore,
    NewIngestion,
    NewQuarantinedRow,
    OutboxEvent,
    Page,
    QuarantinedRows,
    QuarantineFilter,
    QuarantineOrigin,
    Row,
    Schemas,
    SourceObjects,
    SourceObjectSeen,
    SourceOutcome,
    Statistics,
    Transaction,
    TrendWindow,
)

__all__ = [
    "AuditLog",
    "BucketLanding",
    "Clock",
    "ContractRecord",
    "ContractSource",
    "Contracts",
    "CuratedLoad",
    "CuratedTables",
    "Ingestions",
    "Marts",
    "LineageOutbox",
    "LineageSink",
    "LineageValues",
    "LoadStats",
    "MetadataStore",
    "NewIngestion",
    "OutboxEvent",
    "NewQuarantinedRow",
    "Page",
    "QuarantineFilter",
    "QuarantineOrigin",
    "QuarantinedRows",
    "RawLanding",
    "RawObject",
    "Row",
    "Schemas",
    "Services",
    "SourceObjectSeen",
    "SourceObjects",
    "SourceOutcome",
    "Statistics",
    "StoredObject",
    "TaskQueue",
    "Transaction",
    "TrendWindow",
]

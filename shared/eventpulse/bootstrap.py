"""The composition root: the one place that builds adapters from settings.

Every process entry (the CLI, ``runtime.py`` for functions, jobs and the RQ worker, the tests) calls
``build_services``; nothing else constructs an adapter. The core sees only ``eventpulse.ports``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventpulse.adapters.clock import SystemClock
from eventpulse.adapters.landing_fs import FilesystemLanding
from eventpulse.adapters.postgres.cloudsql import CloudSqlTarget
from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.adapters.postgres.store import PostgresStore
from eventpulse.adapters.queue_inline import BatchHandler, Handler, InlineQueue
from eventpulse.ports import Clock, DeviceRegistry, LineageSink, RawLanding, TaskQueue
from eventpulse.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppServices:
    """The ``Services`` port: settings and one adapter per port, built by ``build_services``."""

    settings: Settings
    store: PostgresStore
    landing: RawLanding
    devices: DeviceRegistry
    clock: Clock = field(default_factory=SystemClock)
    queue_factory: Callable[[], TaskQueue] | None = None
    """Builds the queue on first use: a function that never enqueues never imports its client."""
    lineage_sink: LineageSink | None = None
    """Where lineage events are pushed; None when no OpenLineage URL is configured."""
    _queue: TaskQueue | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def queue(self) -> TaskQueue:
        with self._lock:
            if self._queue is None:
                if self.queue_factory is None:
                    raise RuntimeError("these services were built without a task queue")
                self._queue = self.queue_factory()
            return self._queue

    @queue.setter
    def queue(self, value: TaskQueue) -> None:
        self._queue = value

    def close(self) -> None:
        close = getattr(self._queue, "close", None)
        if close is not None:
            close()
        if self.lineage_sink is not None:
            self.lineage_sink.close()
        self.devices.close()
        self.store.close()


def resolve_database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, else the embedded server under the data folder (local mode only)."""
    if settings.database_url:
        return settings.database_url
    if settings.mode != "local":
        raise RuntimeError("DATABASE_URL must be set in cloud mode (the embedded server is local-only)")
    from eventpulse.adapters.postgres.embedded import start_embedded_postgres

    return start_embedded_postgres(settings.pgdata_dir)


def build_landing(settings: Settings) -> RawLanding:
    """The raw landing adapter the settings choose."""
    if settings.landing == "gcs":
        from eventpulse.adapters.landing_gcs import GcsLanding

        return GcsLanding.from_settings(settings)
    return FilesystemLanding(settings.raw_dir, settings.tmp_dir)


def build_queue(
    settings: Settings, handler: Handler, *, background: bool, batch_handler: BatchHandler | None = None
) -> TaskQueue:
    """The task-queue adapter the settings choose; ``handler`` processes one ingestion inline,
    ``batch_handler`` several waiting ones in one pass."""
    if settings.queue == "rq":
        from eventpulse.adapters.queue_rq import RqQueue

        return RqQueue.from_settings(settings)
    if settings.queue == "cloud_tasks":
        from eventpulse.adapters.queue_cloud_tasks import CloudTasksQueue

        return CloudTasksQueue.from_settings(settings)
    return InlineQueue(
        handler,
        background=background,
        workers=settings.inline_workers,
        batch_handler=batch_handler,
        batch_size=settings.inline_batch_size,
    )


def build_lineage_sink(settings: Settings) -> LineageSink | None:
    """The OpenLineage HTTP sink when a receiver URL is configured, else None (nothing is pushed)."""
    if not settings.openlineage_url:
        return None
    from eventpulse.adapters.lineage_openlineage import OpenLineageHttpSink

    return OpenLineageHttpSink.from_settings(settings)


def build_device_registry(settings: Settings, store: PostgresStore) -> DeviceRegistry:
    """The device registry the settings choose: the metadata database, or Firestore."""
    if settings.device_registry == "firestore":
        # Imported here: the Postgres default never loads the Firestore client.
        from eventpulse.adapters.firestore.devices import FirestoreDeviceRegistry

        return FirestoreDeviceRegistry.from_settings(settings)
    from eventpulse.adapters.postgres.devices import PostgresDeviceRegistry

    return PostgresDeviceRegistry(store.engine)


def build_store(settings: Settings, *, migrate: bool = True) -> PostgresStore:
    """The metadata store on the configured database, migrated first unless ``migrate`` is False."""
    engine = build_engine(
        resolve_database_url(settings),
        pool_size=settings.db_pool_size,
        idle_in_transaction_timeout_seconds=settings.db_idle_in_transaction_timeout_seconds,
        role=settings.db_role,
        cloudsql=(
            CloudSqlTarget(settings.cloudsql_instance, settings.cloudsql_ip_type, settings.cloudsql_iam_auth)
            if settings.cloudsql_instance
            else None
        ),
    )
    store = PostgresStore(engine)
    if migrate:
        store.migrate()
    return store


def build_services(settings: Settings, *, background: bool = False, migrate: bool = True) -> AppServices:
    """Build every adapter; ``background`` runs the inline queue on a worker thread (the server)."""
    store = build_store(settings, migrate=migrate)
    services = AppServices(
        settings=settings,
        store=store,
        landing=build_landing(settings),
        devices=build_device_registry(settings, store),
        lineage_sink=build_lineage_sink(settings),
    )

    def handle(ingestion_id: uuid.UUID) -> object:
        # Imported here: functions that never process (signed URLs, finalize) skip pyarrow and GX.
        from eventpulse.pipeline.processor import process_ingestion

        return process_ingestion(services, ingestion_id)

    def handle_batch(ingestion_ids: Sequence[uuid.UUID]) -> object:
        from eventpulse.pipeline.prevalidate import process_batch

        return process_batch(services, ingestion_ids)

    services.queue_factory = lambda: build_queue(
        settings, handle, background=background, batch_handler=handle_batch
    )
    return services

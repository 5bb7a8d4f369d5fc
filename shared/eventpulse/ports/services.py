"""What a process hands to the core: ``Services`` (settings, one adapter per port), clock, queue, sink."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from eventpulse.ports.devices import DeviceRegistry
    from eventpulse.ports.landing import RawLanding
    from eventpulse.ports.store import MetadataStore
    from eventpulse.settings import Settings


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class TaskQueue(Protocol):
    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        """Deliver the ingestion to a worker at least once."""
        ...


class LineageSink(Protocol):
    """Where OpenLineage events are pushed (an HTTP receiver such as Marquez)."""

    def send(self, event: Mapping[str, Any]) -> None:
        """Deliver one event; raises when the receiver did not accept it (it is retried later)."""
        ...

    def close(self) -> None: ...


class Services(Protocol):
    """What a process entry hands to the core: settings and one adapter per port."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> MetadataStore: ...

    @property
    def landing(self) -> RawLanding: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def devices(self) -> DeviceRegistry:
        """The device registry (Postgres locally, Firestore in the cloud)."""
        ...

    @property
    def queue(self) -> TaskQueue: ...

    @property
    def lineage_sink(self) -> LineageSink | None:
        """None when no receiver is configured: events stay in the outbox, nothing is pushed."""
        ...

    def close(self) -> None: ...

"""What a process hands to the core: ``Services`` (settings, one adapter per port), clock, queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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
    def queue(self) -> TaskQueue: ...

    def close(self) -> None: ...

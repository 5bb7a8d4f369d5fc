"""The audit event of one maintenance run (who ran which job, with which parameters, with what result)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventpulse.ports import Services


def record_job_run(services: Services, *, job: str, actor: str, details: Mapping[str, Any]) -> None:
    """Write ``job.<job>`` to the audit log (entity ``job``/``<job>``)."""
    with services.store.transaction() as tx:
        tx.audit.record(actor=actor, action=f"job.{job}", entity_type="job", entity_id=job, details=details)

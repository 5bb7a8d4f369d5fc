"""gcs_finalize (CloudEvent ``google.cloud.storage.object.v1.finalized``): register a new raw object once.

Objects outside the raw prefix and repeated deliveries are acknowledged (2xx) without effect; a terminal
error is logged and acknowledged; only a retryable failure raises, so Eventarc redelivers exactly those.
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from eventpulse.cloud import triggers
from eventpulse.landing.objects import handle_finalize
from eventpulse.runtime import get_services

log = logging.getLogger("eventpulse.functions.gcs_finalize")


@functions_framework.cloud_event
def gcs_finalize(event: CloudEvent) -> None:
    try:  # 1. parse the trigger (a malformed event is acknowledged: redelivery cannot fix it)
        obj = triggers.parse_storage_event(event.get_attributes(), event.get_data())
    except triggers.BadTrigger as exc:
        log.error("event %s ignored: %s", event["id"], exc.message)
        return
    services = get_services()  # 2. get services
    result = triggers.acknowledge_terminal(  # 3. one core function
        obj.event_id,
        lambda: handle_finalize(
            services,
            bucket=obj.bucket,
            name=obj.name,
            generation=obj.generation,
            metadata=obj.metadata,
            size=obj.size,
        ),
    )
    if result is not None:  # 4. map the result: every outcome here is an acknowledgement
        where = f"gs://{obj.bucket}/{obj.name}#{obj.generation}"
        log.info(
            "event %s %s: %s %s", obj.event_id, where, result.status, result.reason or result.ingestion_id
        )

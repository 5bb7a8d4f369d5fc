"""The Cloud Tasks queue: one HTTP task per ingestion, posted to the process_task function.

The only module that imports ``google.cloud.tasks_v2``. The task name is derived from the ingestion id
(``<queue>/tasks/ingest-<id>``; ids are random UUIDs, the well-spread names Cloud Tasks asks for), so a
second enqueue while the task is pending or being dispatched gets ALREADY_EXISTS, which is success.
Cloud Tasks keeps a finished task's name taken for an hour: when the duplicate is no longer pending
(reclaim, review or replay asks for a new delivery), the task is created under a per-minute name,
``ingest-<id>-r<minute>``, so the delivery happens and a burst of re-enqueues still makes one task;
when that one has run too, a request in the same minute gets ``ingest-<id>-r<minute>-<random>``.

Auth: an OIDC token for ``task_oidc_service_account`` in production (audience: the handler's origin,
which Cloud Run accepts); otherwise the ``X-Task-Token`` header. The token never goes into an OIDC task.

Deadline: ``dispatch_deadline`` = ``job_timeout_seconds`` capped at 30 minutes, Cloud Tasks' maximum for
HTTP targets (and at least its 15 s minimum). A file that takes longer is redelivered while it runs;
the redelivery finds it in flight (503) and retries later, so it still completes once.

Retries are the queue's configuration, set in Terraform (see RETRY_CONFIG below); the emulator applies
only a global retry count. IAM: the enqueuer needs cloudtasks.tasks.create and cloudtasks.tasks.get
(roles/cloudtasks.enqueuer + roles/cloudtasks.viewer) and iam.serviceAccounts.actAs on the OIDC account.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.cloud import tasks_v2
from google.protobuf import duration_pb2

from eventpulse.errors import RetryableError
from eventpulse.settings import Settings, SettingsError

log = logging.getLogger(__name__)

MAX_DISPATCH_DEADLINE_SECONDS = 30 * 60
MIN_DISPATCH_DEADLINE_SECONDS = 15
CALL_TIMEOUT_SECONDS = 10.0
RETRY_CONFIG = {
    "max_attempts": 10,
    "min_backoff": "10s",
    "max_backoff": "600s",
    "max_doublings": 5,
    "max_retry_duration": "0s",
}
"""The queue's retry config Terraform must set: bounded attempts, exponential backoff 10 s .. 10 min
(about 45 min of retries), long enough for a dead worker's heartbeat (120 s) to go stale and be reclaimed.
The processor's own max_attempts (3) bounds real processing; the rest absorb 503s and outages."""

_TRANSIENT = api_retry.Retry(
    predicate=api_retry.if_exception_type(
        api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded, api_exceptions.InternalServerError
    ),
    initial=0.2,
    maximum=5.0,
    multiplier=2.0,
    timeout=30.0,
)


class EnqueueFailed(RetryableError):
    code = "enqueue_failed"


class CloudTasksQueue:
    """Creates one named HTTP task per ingestion on ``settings.tasks_queue``."""

    def __init__(
        self,
        client: tasks_v2.CloudTasksClient,
        *,
        queue_path: str,
        handler_url: str,
        task_token: str | None,
        oidc_service_account: str | None,
        dispatch_deadline_seconds: int,
    ):
        self.client = client
        self.queue_path = queue_path
        self.handler_url = handler_url
        self._task_token = task_token
        self.oidc_service_account = oidc_service_account
        self.dispatch_deadline_seconds = dispatch_deadline_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudTasksQueue:
        if not settings.task_handler_url:
            raise SettingsError("EVENTPULSE_TASK_HANDLER_URL must be set for the Cloud Tasks queue")
        if not (settings.task_oidc_service_account or settings.task_token or settings.auth_disabled):
            raise SettingsError(
                "set EVENTPULSE_TASK_OIDC_SERVICE_ACCOUNT (production) or EVENTPULSE_TASK_TOKEN (emulator): "
                "process_task refuses tasks without a credential"
            )
        return cls(
            build_client(settings.tasks_endpoint),
            queue_path=tasks_v2.CloudTasksClient.queue_path(
                settings.gcp_project, settings.tasks_location, settings.tasks_queue
            ),
            handler_url=settings.task_handler_url,
            task_token=settings.task_token,
            oidc_service_account=settings.task_oidc_service_account,
            dispatch_deadline_seconds=dispatch_deadline(settings.job_timeout_seconds),
        )

    def task_name(self, ingestion_id: uuid.UUID, suffix: str = "") -> str:
        return f"{self.queue_path}/tasks/ingest-{ingestion_id}{suffix}"

    def enqueue(self, ingestion_id: uuid.UUID) -> None:
        name = self.task_name(ingestion_id)
        if self._create(name, ingestion_id):
            return
        if self._is_pending(name):
            log.info("ingestion %s already has a pending task %s", ingestion_id, name)
            return
        # The first task finished (or was dropped) within the last hour: deliver again under a new name.
        redelivery = self.task_name(ingestion_id, f"-r{int(time.time() // 60)}")
        if self._create(redelivery, ingestion_id):
            return
        if self._is_pending(redelivery):
            log.info("ingestion %s: redelivery %s is pending", ingestion_id, redelivery)
            return
        # This minute's redelivery ran already (a worker killed twice within a minute, reclaimed twice):
        # a name of its own, or the request would be dropped until the next minute's reclaim.
        self._create(
            self.task_name(ingestion_id, f"-r{int(time.time() // 60)}-{uuid.uuid4().hex[:8]}"), ingestion_id
        )

    def build_task(self, name: str, ingestion_id: uuid.UUID) -> tasks_v2.Task:
        request = tasks_v2.HttpRequest(
            url=self.handler_url,
            http_method=tasks_v2.HttpMethod.POST,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"ingestion_id": str(ingestion_id)}).encode(),
        )
        if self.oidc_service_account:
            request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self.oidc_service_account, audience=origin(self.handler_url)
            )
        elif self._task_token:
            request.headers["X-Task-Token"] = self._task_token
        return tasks_v2.Task(
            name=name,
            http_request=request,
            dispatch_deadline=duration_pb2.Duration(seconds=self.dispatch_deadline_seconds),
        )

    def _create(self, name: str, ingestion_id: uuid.UUID) -> bool:
        """True when the task was created, False when a task of that name exists or existed recently."""
        try:
            self.client.create_task(
                parent=self.queue_path,
                task=self.build_task(name, ingestion_id),
                retry=_TRANSIENT,  # safe: a named task is idempotent
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except api_exceptions.AlreadyExists:
            return False
        except api_exceptions.GoogleAPICallError as exc:
            # The API's words (project, service account) go to the log, not to whoever asked.
            log.warning("could not create task %s: %s: %s", name, type(exc).__name__, exc.message)
            raise EnqueueFailed(
                f"could not create a Cloud Tasks task for ingestion {ingestion_id}",
                hint="check the queue exists and this service account may create tasks; "
                "the reclaim job re-delivers the ingestion",
            ) from exc
        log.info("ingestion %s enqueued as %s", ingestion_id, name)
        return True

    def _is_pending(self, name: str) -> bool:
        try:
            self.client.get_task(name=name, retry=_TRANSIENT, timeout=CALL_TIMEOUT_SECONDS)
        except api_exceptions.NotFound:
            return False
        except api_exceptions.GoogleAPICallError as exc:  # e.g. no tasks.get permission: assume pending
            log.warning("could not look up task %s (%s); assuming it is pending", name, exc.message)
        return True

    def close(self) -> None:
        transport: Any = self.client.transport
        transport.close()


def build_client(endpoint: str | None) -> tasks_v2.CloudTasksClient:
    """Google's client; an emulator address (host:port) gets an insecure gRPC channel, no credentials."""
    if not endpoint:
        return tasks_v2.CloudTasksClient()
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    return tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(endpoint))
    )


def dispatch_deadline(job_timeout_seconds: int) -> int:
    return max(MIN_DISPATCH_DEADLINE_SECONDS, min(job_timeout_seconds, MAX_DISPATCH_DEADLINE_SECONDS))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"

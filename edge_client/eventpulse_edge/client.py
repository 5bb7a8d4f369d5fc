"""HTTP client for the server's `/api/edge/*` routes (names fixed by the server's API).

Outcomes the agent must treat differently are different exceptions: 401 (the token is wrong or rotated:
re-enroll), 403 (the device is revoked: stop everything), 403 ``dataset_not_allowed`` (only this dataset
is refused: keep the batches, keep heartbeats and commands going; told apart by the error envelope's
``code``), and everything worth retrying (429, 5xx, a network error or a timeout). Nothing here sleeps
or retries; the agent owns the backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from eventpulse_edge import __version__


class EdgeError(Exception):
    """The server refused a request in a way retrying the same request will not fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotAuthenticated(EdgeError):
    """401: the device token is missing, wrong or was rotated."""


class Revoked(EdgeError):
    """403 (any code but ``dataset_not_allowed``): the device is revoked; everything must stop."""


class DatasetRefused(EdgeError):
    """403 ``dataset_not_allowed``: the device may not send this dataset; batches wait, nothing else stops."""


class BucketLandingRequired(EdgeError):
    """409 ``bucket_landing_required``: the server lands on its filesystem, so there is no URL to sign."""


class Retryable(EdgeError):
    """429, 5xx, a timeout or no network: try again later, after a backoff delay."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Enrollment:
    device: dict[str, Any]
    device_token: str
    created: bool


@dataclass(frozen=True)
class SignedUpload:
    """A minted signed PUT: where to send the bytes, under which object name, with which headers."""

    url: str
    object_name: str
    headers: dict[str, str]


@dataclass(frozen=True)
class RemoteCommand:
    command_id: str
    kind: str
    params: dict[str, Any]


class EdgeClient:
    """One device's session with the server; the token can change (re-enrollment) during its life."""

    def __init__(
        self,
        base_url: str,
        device_id: str,
        device_token: str = "",
        *,
        timeout: float = 20.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self.device_token = device_token
        self.timeout = timeout
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"eventpulse-edge/{__version__}"

    # -- routes ---------------------------------------------------------------------------------------

    def enroll(self, enroll_token: str, fingerprint: str, label: str = "") -> Enrollment:
        body: dict[str, Any] = {"device_id": self.device_id, "enroll_fingerprint": fingerprint}
        if label:
            body["label"] = label
        data = self._call(
            "POST", "/api/edge/enroll", json=body, headers={"X-Device-Enroll-Token": enroll_token}, auth=False
        )
        token = str(data.get("device_token") or "")
        if not token:
            raise EdgeError("enrollment answered without a device_token")
        self.device_token = token
        return Enrollment(dict(data.get("device") or {}), token, bool(data.get("created")))

    def ping(self) -> dict[str, Any]:
        return self._call("GET", "/api/edge/ping")

    def heartbeat(self, health: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/edge/heartbeat", json=health)

    def upload(self, dataset: str, filename: str, payload: bytes) -> tuple[int, dict[str, Any]]:
        """Upload one batch's bytes; (status, body) for 202 (accepted) or 200 (the server had them)."""
        response = self._send(
            "POST",
            "/api/edge/ingest/upload",
            params={"dataset": dataset, "filename": filename},
            data=payload,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code not in (200, 202):
            raise EdgeError(
                f"upload answered {response.status_code}: {_detail(response)}", response.status_code
            )
        return response.status_code, _json(response)

    def sign_upload(self, dataset: str, filename: str, sha256: str, content_type: str) -> SignedUpload:
        """Mint a create-only signed PUT for one batch (201); the object name is random per call."""
        data = self._call(
            "POST",
            "/api/edge/uploads/gcs_signed_url",
            json={"dataset": dataset, "filename": filename, "sha256": sha256, "content_type": content_type},
        )
        try:
            return SignedUpload(
                str(data["url"]),
                str(data["object_name"]),
                {str(k): str(v) for k, v in data["headers"].items()},
            )
        except (KeyError, AttributeError) as exc:  # a broken answer (a proxy?): never a reason to drop
            raise Retryable(f"gcs_signed_url answered without {exc}") from exc

    def put_signed(self, signed: SignedUpload, payload: bytes) -> bool:
        """PUT the bytes to the signed URL with exactly its signed headers and no device credential.

        True when stored; also True for 412 (the create-only object already exists: an earlier PUT of
        these bytes got there and its answer was lost). Every failure is Retryable, an expired or refused
        URL included: the batch's bytes are still in the spool, and the next attempt finalizes the
        recorded name (404 when it never landed) and mints a new URL. Never a reason to drop a batch.
        """
        try:
            response = self._session.request(
                "PUT", signed.url, data=payload, headers=dict(signed.headers), timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise Retryable(f"PUT signed URL: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 412:
            return True
        if not 200 <= response.status_code < 300:
            raise Retryable(
                f"PUT signed URL answered {response.status_code}: {response.text[:200]}", response.status_code
            )
        return True

    def finalize_upload(self, object_name: str) -> tuple[int, dict[str, Any]]:
        """Register the PUT object as this device's ingestion: 202 new, 200 the server had these bytes."""
        response = self._send("POST", "/api/edge/ingest/from_gcs", json={"object_name": object_name})
        if response.status_code not in (200, 202):
            raise EdgeError(
                f"ingest/from_gcs answered {response.status_code}: {_detail(response)}", response.status_code
            )
        return response.status_code, _json(response)

    def commands(self) -> list[RemoteCommand]:
        data = self._call("GET", "/api/edge/commands")
        items = data.get("items") or []
        return [
            RemoteCommand(str(item["command_id"]), str(item["kind"]), dict(item.get("params") or {}))
            for item in items
        ]

    def ack(self, command_id: str, ok: bool, output: str | None = None, error: str | None = None) -> None:
        body: dict[str, Any] = {"ok": ok}
        if output is not None:
            body["output"] = output
        if error is not None:
            body["error"] = error
        self._call("POST", f"/api/edge/commands/{command_id}/ack", json=body)

    # -- plumbing -------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        if not 200 <= response.status_code < 300:
            raise EdgeError(
                f"{method} {path} answered {response.status_code}: {_detail(response)}", response.status_code
            )
        return _json(response)

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if auth:
            headers["X-Device-Id"] = self.device_id
            headers["X-Device-Token"] = self.device_token
        try:
            response = self._session.request(
                method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise Retryable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        classify(
            response.status_code, f"{method} {path}: {_detail(response)}", response.headers, _code(response)
        )
        return response


def classify(status: int, message: str, headers: Any = None, code: str = "") -> None:
    """Raise the exception the agent reacts to for a status (and envelope code); return for any other."""
    if status == 401:
        raise NotAuthenticated(message, status)
    if status == 403 and code == "dataset_not_allowed":
        raise DatasetRefused(message, status)
    if status == 403:
        raise Revoked(message, status)
    if status == 409 and code == "bucket_landing_required":
        raise BucketLandingRequired(message, status)
    if status == 429 or status >= 500:
        retry_after = None
        raw = (headers or {}).get("Retry-After")
        if raw is not None:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        raise Retryable(message, status, retry_after)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"items": data}


def _code(response: requests.Response) -> str:
    """The error envelope's ``code`` ('' when the answer has none)."""
    if response.status_code < 400:
        return ""
    error = _json(response).get("error")
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def _detail(response: requests.Response) -> str:
    """The error envelope's message when there is one, else the start of the body."""
    data = _json(response)
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return response.text[:200]

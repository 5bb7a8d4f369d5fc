"""The ``LineageSink`` port on the official openlineage-python client's HTTP transport.

Imported by ``bootstrap.py`` only when ``openlineage_url`` is set, so processes that push nothing never
pay for the client (about 0.3 s of imports). The transport's own urllib3 retries are turned off: a
failed push goes back to the outbox, which retries with back-off and never holds up an ingestion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openlineage.client.transport.http import HttpConfig, HttpTransport

from eventpulse.settings import Settings

_NO_RETRIES = {"total": 0, "read": 0, "connect": 0, "status": 0, "status_forcelist": []}


class OpenLineageHttpSink:
    def __init__(self, transport: HttpTransport):
        self._transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenLineageHttpSink:
        if not settings.openlineage_url:
            raise ValueError("openlineage_url is not set")
        config: dict[str, Any] = {
            "url": settings.openlineage_url,
            "endpoint": settings.openlineage_endpoint,
            "timeout": settings.openlineage_timeout_seconds,
            "retry": _NO_RETRIES,
        }
        if settings.openlineage_api_key:
            config["auth"] = {"type": "api_key", "apiKey": settings.openlineage_api_key}
        return cls(HttpTransport(HttpConfig.from_dict(config)))

    def send(self, event: Mapping[str, Any]) -> None:
        # The transport serialises a plain dict as it is (Serde.to_json drops None values only).
        self._transport.emit(dict(event))  # type: ignore[arg-type]

    def close(self) -> None:
        self._transport.close()

"""Device media storage: the landing bucket on GCS, or ``<data_dir>/media`` on the filesystem landing.

Both stores hand out a short-lived URL to PUT one object and one to GET it; the API never proxies the
bytes on GCS. On the filesystem the URLs point back at this server (``/api/edge/media/local``) and
carry an HMAC token (``devices/media.py``): the same flow for the device, on the embedded defaults.
Media objects are not raw data: they are never content-addressed or ingested, only recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from eventpulse.devices.media import MediaGrant, Operation, sign_grant
from eventpulse.errors import Conflict
from eventpulse.landing.keys import ensure_safe_key
from eventpulse.landing.spool import spooled
from eventpulse.ports import BucketLanding

UrlOf = Callable[[Operation, str], str]
"""Builds the absolute URL of the local media route for (operation, token)."""


@dataclass(frozen=True)
class MediaStat:
    size: int
    content_type: str | None


@dataclass(frozen=True)
class SignedRequest:
    url: str
    method: str
    headers: dict[str, str]


class MediaStore(Protocol):
    def sign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires: timedelta, now: datetime
    ) -> SignedRequest: ...

    def sign_get(self, key: str, *, expires: timedelta, now: datetime) -> str: ...

    def stat(self, key: str) -> MediaStat | None: ...

    def delete(self, key: str) -> None: ...


class BucketMediaStore:
    """Media in the landing bucket, under ``media/``; URLs are V4-signed by the bucket landing."""

    def __init__(self, landing: BucketLanding):
        self.landing = landing

    def sign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires: timedelta, now: datetime
    ) -> SignedRequest:
        # Signed headers must be sent exactly: the content type is fixed and the PUT is create-only.
        headers = {"content-type": content_type, "x-goog-if-generation-match": "0"}
        return SignedRequest(
            self.landing.signed_put_url(key, headers=headers, expires=expires), "PUT", headers
        )

    def sign_get(self, key: str, *, expires: timedelta, now: datetime) -> str:
        return self.landing.signed_get_url(key, expires=expires)

    def stat(self, key: str) -> MediaStat | None:
        obj = self.landing.stat(key)
        return None if obj is None else MediaStat(obj.size, obj.content_type)

    def delete(self, key: str) -> None:
        obj = self.landing.stat(key)
        if obj is not None:
            self.landing.delete_generation(obj)


class LocalMediaStore:
    """Media as files under ``root`` (``<data_dir>/media``), written through this server's signed route."""

    def __init__(self, root: Path, tmp_dir: Path, *, pepper: str, url_of: UrlOf):
        self.root = root.resolve()
        self.tmp_dir = tmp_dir
        self.pepper = pepper
        self.url_of = url_of

    def sign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires: timedelta, now: datetime
    ) -> SignedRequest:
        grant = MediaGrant("put", key, int((now + expires).timestamp()), content_type, max_bytes)
        headers = {"content-type": content_type}
        return SignedRequest(self.url_of("put", sign_grant(self.pepper, grant)), "PUT", headers)

    def sign_get(self, key: str, *, expires: timedelta, now: datetime) -> str:
        grant = MediaGrant("get", key, int((now + expires).timestamp()))
        return self.url_of("get", sign_grant(self.pepper, grant))

    def path(self, key: str) -> Path:
        """The file of ``key``; ValueError when the key would leave the media root."""
        path = (self.root / ensure_safe_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"media key {key!r} escapes the media root")
        return path

    def write(self, key: str, stream: BinaryIO, *, max_bytes: int, content_type: str) -> int:
        """Create ``key`` from ``stream`` (create-only, atomic); PayloadTooLarge over ``max_bytes``."""
        final = self.path(key)
        with spooled(stream, self.tmp_dir, filename=final.name, max_bytes=max_bytes) as spool:
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(spool.path, final)  # fails when the target exists: create-only, like GCS's 412
            except FileExistsError:
                raise Conflict(
                    f"media object {key!r} exists already", hint="ask for a new signed URL"
                ) from None
            _content_type_file(final).write_text(content_type)
            return spool.size

    def stat(self, key: str) -> MediaStat | None:
        path = self.path(key)
        if not path.is_file():
            return None
        sidecar = _content_type_file(path)
        return MediaStat(path.stat().st_size, sidecar.read_text() if sidecar.exists() else None)

    def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        _content_type_file(path).unlink(missing_ok=True)


def _content_type_file(path: Path) -> Path:
    # A file has no metadata: the content type the URL was signed for is kept next to it.
    return path.with_name(path.name + ".content-type")

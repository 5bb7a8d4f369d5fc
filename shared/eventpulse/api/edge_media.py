"""A device's photos and videos (issue 8): a signed PUT under its own prefix, finalize, admin listing.

``POST /api/edge/media/signed_url`` answers a URL to PUT one ``image/*`` or ``video/*`` object at
``media/<device_id>/<date>/<random>-<name>``; ``POST /api/edge/media/finalize`` checks the object is
there, under the *caller's* prefix and within ``EVENTPULSE_MEDIA_MAX_BYTES``, and records it.
``GET /api/devices/<device_id>/media`` lists the records with a short-lived read URL each.

On GCS the URLs are V4-signed by the landing bucket. On the filesystem landing (embedded defaults)
they point at ``/api/edge/media/local?token=...`` on this server: the token (``devices/media.py``) is
the credential, as a GCS signature is, so these two routes take no other (an invalid or expired
token is 401).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

from flask import Response, current_app, jsonify, request, send_file, url_for
from pydantic import BaseModel, ConfigDict, Field

from eventpulse.api.auth import calling_device
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import Body
from eventpulse.api.roles import DEVICE, PUBLIC, VIEWER
from eventpulse.devices.media import (
    MediaGrant,
    Operation,
    build_media_key,
    is_device_media_key,
    is_media_type,
    verify_grant,
)
from eventpulse.devices.tokens import DEVICE_ID
from eventpulse.errors import BadRequest, Forbidden, NotConfigured, NotFound, PayloadTooLarge, Unauthorized
from eventpulse.landing.media import BucketMediaStore, LocalMediaStore, MediaStore
from eventpulse.ports import BucketLanding, MediaObject, Services
from eventpulse.settings import Settings

bp = Operations("edge_media", __name__, url_prefix="/api/edge")
admin_bp = Operations("device_media", __name__, url_prefix="/api")

MAX_MEDIA_PAGE = 200


class MediaSignBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    filename: str = Field(min_length=1, max_length=255, description="the file's name (kept, made safe)")
    content_type: str = Field(max_length=100, description="image/* or video/*")
    size: int | None = Field(None, ge=0, description="the size in bytes, checked against the limit now")


class MediaFinalizeBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    object_name: str = Field(min_length=1, max_length=400, description="object_name from signed_url")
    captured_at: str | None = Field(None, max_length=40, description="when it was taken (ISO 8601)")


class MediaSigned(BaseModel):
    url: str
    method: str
    headers: dict[str, str] = Field(description="send each one exactly with the PUT")
    object_name: str
    expires_at: str
    max_bytes: int


class MediaRecord(BaseModel):
    media_id: str
    device_id: str
    object_name: str
    content_type: str
    size_bytes: int
    sha256: str | None = None
    created_at: str
    captured_at: str | None = None
    read_url: str | None = Field(None, description="a short-lived GET URL (listing only)")
    read_url_expires_at: str | None = None


class MediaFinalized(BaseModel):
    media: MediaRecord
    created: bool = Field(description="false: this object was recorded before")


class MediaPage(BaseModel):
    items: list[MediaRecord]
    next_cursor: str | None


class MediaPath(BaseModel):
    device_id: str = Field(max_length=63, description="a device id", json_schema_extra={"example": "pi-001"})


class MediaQuery(BaseModel):
    limit: int = Field(50, ge=1, le=MAX_MEDIA_PAGE, description=f"items per page, 1 to {MAX_MEDIA_PAGE}")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")


class FleetMediaQuery(MediaQuery):
    device_id: str | None = Field(None, max_length=63, description="only this device's media")


class LocalMediaQuery(BaseModel):
    token: str = Field("", max_length=4000, description="the signed token of the URL")


def _settings() -> Settings:
    settings: Settings = current_app.config["EVENTPULSE_SETTINGS"]
    return settings


def _pepper() -> str:
    pepper = _settings().device_token_pepper
    if not pepper:
        raise NotConfigured(
            "local media URLs are not configured on this server",
            hint="set EVENTPULSE_DEVICE_TOKEN_PEPPER (it also keys the local media URLs)",
        )
    return pepper


def _local_url(op: Operation, token: str) -> str:
    endpoint = "edge_media.local_put" if op == "put" else "edge_media.local_get"
    return url_for(endpoint, token=token, _external=True)


def media_store(services: Services) -> MediaStore:
    """The landing bucket's media store on GCS, else files under ``<data_dir>/media``."""
    if isinstance(services.landing, BucketLanding):
        return BucketMediaStore(services.landing)
    return _local_store(services)


def _local_store(services: Services) -> LocalMediaStore:
    settings = services.settings
    return LocalMediaStore(settings.data_dir / "media", settings.tmp_dir, pepper=_pepper(), url_of=_local_url)


def _expires() -> timedelta:
    return timedelta(seconds=_settings().media_url_expires_seconds)


def ensure_media_type(content_type: str) -> str:
    cleaned = content_type.strip().lower()
    if not is_media_type(cleaned):
        raise BadRequest(
            f"content_type {content_type[:100]!r} is not a photo or video type",
            hint="media are image/* or video/* (e.g. image/jpeg, video/mp4); send data by the upload routes",
            details={"parameter": "content_type"},
        )
    return cleaned


def ensure_within_limit(size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(
            f"the media object is {size} bytes, over the {limit}-byte limit",
            hint="send a smaller file (limit EVENTPULSE_MEDIA_MAX_BYTES)",
            details={"size": size, "limit_bytes": limit},
        )


@bp.operation(
    "POST",
    "/media/signed_url",
    access=DEVICE,
    returns={201: MediaSigned},
    errors=(400, 413, 507),
    body=MediaSignBody,
)
def media_signed_url(body: MediaSignBody) -> tuple[Response, int]:
    """A URL to PUT one photo or video under the device's own prefix (create-only, short-lived)."""
    device_id = calling_device().device_id
    services = current_services()
    content_type = ensure_media_type(body.content_type)
    limit = services.settings.media_max_bytes
    if body.size is not None:
        ensure_within_limit(body.size, limit)
    now = services.clock.now()
    key = build_media_key(device_id, body.filename, now=now)
    signed = media_store(services).sign_put(
        key, content_type=content_type, max_bytes=limit, expires=_expires(), now=now
    )
    answer = MediaSigned(
        url=signed.url,
        method=signed.method,
        headers=signed.headers,
        object_name=key,
        expires_at=(now + _expires()).isoformat(timespec="seconds"),
        max_bytes=limit,
    )
    return jsonify(answer.model_dump()), 201


@bp.operation(
    "POST",
    "/media/finalize",
    access=DEVICE,
    returns={201: MediaFinalized, 200: MediaFinalized},
    errors=(400, 404, 413),
    body=MediaFinalizeBody,
)
def media_finalize(body: MediaFinalizeBody) -> tuple[Response, int]:
    """Record an uploaded photo or video: it must exist, under the caller's prefix, within the limit.

    A name outside the caller's own prefix is 403 whether or not it exists (nothing is revealed); a
    missing object is 404; an object over the limit or of a non-media type is deleted and refused.
    """
    device_id = calling_device().device_id
    services = current_services()
    key = body.object_name
    if not is_device_media_key(key, device_id):
        raise Forbidden(
            "object_name is not a media object of this device",
            hint="send the object_name POST /api/edge/media/signed_url answered to this device",
        )
    captured_at = _parse_time(body.captured_at)
    store = media_store(services)
    stat = store.stat(key)
    if stat is None:
        raise NotFound(f"media object {key!r} does not exist", hint="PUT the bytes to the signed URL first")
    limit = services.settings.media_max_bytes
    if stat.size > limit or not is_media_type((stat.content_type or "").lower()):
        store.delete(key)
        ensure_within_limit(stat.size, limit)
        raise BadRequest(
            f"media object {key!r} was stored as {stat.content_type!r}, not a photo or video",
            hint="upload with the content-type header the signed URL was minted for",
        )
    media = MediaObject(
        media_id=key.rsplit("/", 1)[-1][:32],
        device_id=device_id,
        key=key,
        content_type=(stat.content_type or "").lower(),
        size_bytes=stat.size,
        created_at=services.clock.now(),
        captured_at=captured_at,
    )
    created = services.devices.add_media(media)
    if created:
        with services.store.transaction() as tx:
            tx.audit.record(
                actor=f"device:{device_id}",
                action="device.media_added",
                entity_type="device",
                entity_id=device_id,
                details={"object_name": key, "size_bytes": stat.size, "content_type": media.content_type},
            )
    return jsonify({"media": present_media(media), "created": created}), 201 if created else 200


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"captured_at {value!r} is not an ISO 8601 time", details={"parameter": "captured_at"}
        ) from None
    if parsed.tzinfo is None:
        raise BadRequest("captured_at needs a time zone", hint="e.g. 2026-05-01T12:00:00+00:00")
    return parsed


def present_media(
    media: MediaObject, *, read_url: str | None = None, expires_at: str | None = None
) -> dict[str, Any]:
    """A media record as the API shows it (``object_name`` is the key; read URL in listings only)."""
    return MediaRecord(
        media_id=media.media_id,
        device_id=media.device_id,
        object_name=media.key,
        content_type=media.content_type,
        size_bytes=media.size_bytes,
        sha256=media.sha256,
        created_at=media.created_at.isoformat(),
        captured_at=media.captured_at.isoformat() if media.captured_at else None,
        read_url=read_url,
        read_url_expires_at=expires_at,
    ).model_dump()


# --- the filesystem landing's stand-in for signed URLs -------------------------------------------


def _grant(op: Operation, token: str) -> MediaGrant:
    grant = verify_grant(_pepper(), token, op=op, now=current_services().clock.now())
    if grant is None:
        raise Unauthorized(
            "the media URL is not valid or has expired",
            hint="ask for a new URL (POST /api/edge/media/signed_url, or list the device's media again)",
        )
    return grant


@bp.operation(
    "PUT",
    "/media/local",
    access=PUBLIC,
    returns={200: {"description": "stored"}},
    errors=(400, 401, 409, 413),
    binary_body=True,
)
def local_put(query: LocalMediaQuery) -> Response:
    """The filesystem landing's signed PUT: store the body under the token's key (create-only).

    The token is the credential (it names the key, content type, size bound and expiry); the
    Content-Type header must be the one it was signed for, as with a GCS signed URL.
    """
    grant = _grant("put", query.token)
    sent = (request.headers.get("Content-Type") or "").strip().lower()
    if sent != grant.content_type:
        raise BadRequest(
            f"Content-Type {sent!r} is not the {grant.content_type!r} this URL was signed for",
            hint="send exactly the headers signed_url answered",
        )
    if request.content_length is not None:
        ensure_within_limit(request.content_length, grant.max_bytes)
    size = _local_store(current_services()).write(
        grant.key, cast(BinaryIO, request.stream), max_bytes=grant.max_bytes, content_type=grant.content_type
    )
    return jsonify({"object_name": grant.key, "size_bytes": size})


@bp.operation(
    "GET", "/media/local", access=PUBLIC, returns={200: {"description": "the bytes"}}, errors=(400, 401, 404)
)
def local_get(query: LocalMediaQuery) -> Response:
    """The filesystem landing's signed GET: the bytes of the token's media object."""
    grant = _grant("get", query.token)
    store = _local_store(current_services())
    stat = store.stat(grant.key)
    if stat is None:
        raise NotFound("the media object no longer exists")
    return send_file(store.path(grant.key), mimetype=stat.content_type or "application/octet-stream")


# --- the admin listing ---------------------------------------------------------------------------


@admin_bp.operation(
    "GET", "/devices/<device_id>/media", access=VIEWER, returns={200: MediaPage}, errors=(400, 404)
)
def device_media(path: MediaPath, query: MediaQuery) -> Response:
    """A device's media records, newest first, each with a short-lived read URL; paged by cursor."""
    if not DEVICE_ID.match(path.device_id):
        raise BadRequest(f"{path.device_id[:70]!r} is not a device id")
    services = current_services()
    if services.devices.get(path.device_id) is None:
        raise NotFound(f"device {path.device_id} does not exist", hint="list devices: GET /api/devices")
    return _media_page(path.device_id, query)


@admin_bp.operation("GET", "/media", access=VIEWER, returns={200: MediaPage}, errors=(400,))
def fleet_media(query: FleetMediaQuery) -> Response:
    """Every device's media records (or one device's with `device_id`), newest first; paged by cursor."""
    if query.device_id and not DEVICE_ID.match(query.device_id):
        raise BadRequest(f"{query.device_id[:70]!r} is not a device id", details={"parameter": "device_id"})
    return _media_page(query.device_id or None, query)


def _media_page(device_id: str | None, query: MediaQuery) -> Response:
    """A page of media records, each with a short-lived read URL."""
    services = current_services()
    try:
        page = services.devices.media(device_id, limit=query.limit, cursor=query.cursor)
    except ValueError as exc:
        raise BadRequest(str(exc), details={"parameter": "cursor"}) from None
    store = media_store(services)
    now = services.clock.now()
    expires_at = (now + _expires()).isoformat(timespec="seconds")
    items = [
        present_media(m, read_url=store.sign_get(m.key, expires=_expires(), now=now), expires_at=expires_at)
        for m in page.items
    ]
    return jsonify({"items": items, "next_cursor": page.next_cursor})

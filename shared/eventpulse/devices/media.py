"""Where a device's photos and videos go, and the local stand-in for a signed URL (pure; no I/O).

Every media object lives under its device's own prefix, ``media/<device_id>/<date>/<32 hex>-<name>``:
finalize accepts a name only when it matches that shape for the *caller*, so a device can neither
record another device's object nor climb out of its prefix (no ``..``, no slash in the name part).

On the filesystem landing there is no object store to sign for, so the server signs its own URLs: a
token ``<payload>.<signature>`` (URL-safe base64) where the payload says what may be done (``put`` or
``get``), to which key, with which content type and size bound, until when. The signature is
HMAC-SHA256 under a key derived from the device-token pepper for this purpose only; verification is
constant-time and checks the expiry against the caller's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from eventpulse.devices.tokens import DEVICE_ID

MEDIA_PREFIX = "media/"
MEDIA_TYPE = re.compile(r"^(image|video)/[A-Za-z0-9][A-Za-z0-9.+-]{0,62}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_PART = r"[0-9a-f]{32}-[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}"
_DATE_PART = r"\d{4}-\d{2}-\d{2}"
MAX_NAME = 80
TOKEN_PURPOSE = b"eventpulse-media-url-v1"

Operation = Literal["put", "get"]


def is_media_type(content_type: str) -> bool:
    """True for ``image/*`` and ``video/*`` (no parameters): the only media a device may upload."""
    return bool(MEDIA_TYPE.match(content_type))


def safe_media_name(filename: str) -> str:
    """The client's name reduced to ``[A-Za-z0-9._-]``, at most 80 characters, never starting with a dot."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[-MAX_NAME:].lstrip(".")
    return cleaned or "media"


def build_media_key(device_id: str, filename: str, *, now: datetime, nonce: str | None = None) -> str:
    """``media/<device_id>/<YYYY-MM-DD>/<random>-<safe name>``: unguessable, under the device's prefix."""
    nonce = nonce or uuid.uuid4().hex
    return f"{MEDIA_PREFIX}{device_id}/{now.date().isoformat()}/{nonce}-{safe_media_name(filename)}"


def is_device_media_key(key: str, device_id: str) -> bool:
    """True when ``key`` has exactly the shape ``build_media_key`` makes, under ``device_id``'s prefix."""
    if not DEVICE_ID.match(device_id):
        return False
    pattern = rf"^{re.escape(MEDIA_PREFIX + device_id)}/{_DATE_PART}/{_NAME_PART}$"
    return re.match(pattern, key) is not None and ".." not in key


@dataclass(frozen=True)
class MediaGrant:
    """What a local media token allows: one operation on one key, until ``expires`` (epoch seconds)."""

    op: Operation
    key: str
    expires: int
    content_type: str = ""
    max_bytes: int = 0


def _key(pepper: str) -> bytes:
    return hmac.new(pepper.encode(), TOKEN_PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_grant(pepper: str, grant: MediaGrant) -> str:
    """The URL-safe token of ``grant``."""
    payload = json.dumps(
        {"o": grant.op, "k": grant.key, "e": grant.expires, "c": grant.content_type, "m": grant.max_bytes},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    signature = hmac.new(_key(pepper), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def verify_grant(pepper: str, token: str, *, op: Operation, now: datetime) -> MediaGrant | None:
    """The grant a token carries when its signature is ours, its operation ``op`` and it has not expired."""
    payload_text, _, signature_text = token.partition(".")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (ValueError, TypeError):
        return None
    expected = hmac.new(_key(pepper), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        raw = json.loads(payload)
        grant = MediaGrant(
            op=raw["o"], key=raw["k"], expires=int(raw["e"]), content_type=raw["c"], max_bytes=int(raw["m"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    if grant.op != op or grant.expires <= now.timestamp():
        return None
    return grant

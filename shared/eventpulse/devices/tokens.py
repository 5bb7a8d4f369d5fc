"""Device tokens: 256-bit random, shown once, stored only as HMAC-SHA256 under a server-side pepper.

A device token is random, so a slow password hash buys nothing; the keyed hash means a copy of the
registry alone cannot be used to forge a match. The enrollment fingerprint is kept the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_PREFIX = "epd_"
TOKEN_BYTES = 32
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
"""What a device id may be (the ``edge_telemetry`` contract checks the same pattern)."""
FINGERPRINT_MAX = 512


def new_device_token() -> str:
    """A fresh device token: ``epd_`` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def keyed_hash(pepper: str, value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under ``pepper``, hex; ``purpose`` separates tokens from fingerprints."""
    message = f"{purpose}\x00{value}".encode("utf-8", "surrogateescape")
    return hmac.new(pepper.encode("utf-8"), message, hashlib.sha256).hexdigest()


def token_hash(pepper: str, token: str) -> str:
    return keyed_hash(pepper, token, purpose="device-token")


def fingerprint_hash(pepper: str, fingerprint: str) -> str:
    return keyed_hash(pepper, fingerprint, purpose="enroll-fingerprint")


def hashes_match(expected: str | None, presented: str) -> bool:
    """Constant-time equality of two hex digests; False when nothing is expected."""
    if not expected:
        return False
    return hmac.compare_digest(expected.encode("ascii"), presented.encode("ascii"))


RESERVED_DEVICE_IDS = frozenset({"commands", "thresholds", "alerts"})
"""Static sub-paths of ``/api/devices``: a device of one of these ids could not be addressed there."""

DEVICE_ID_RULE = (
    "1-63 of letters, digits, '_', '.', '-', starting alphanumeric; not commands, thresholds or alerts"
)
"""The rule in words, for the hints of the routes that refuse an id."""


def is_valid_device_id(device_id: object) -> bool:
    return (
        isinstance(device_id, str)
        and DEVICE_ID.match(device_id) is not None
        and device_id not in RESERVED_DEVICE_IDS
    )

"""Behind a proxy (Cloud Functions, a load balancer) the client address comes from X-Forwarded-For.

Without ``trusted_proxy_hops`` every request seems to come from the proxy, so all devices would share
one enrollment rate limit; with it, each client has its own, and a client cannot pick its own address.
"""

from __future__ import annotations

import hashlib

from eventpulse.api.app import create_app
from eventpulse.api.edge import ENROLL_WINDOW

ENROLL_TOKEN = "fleet-enroll-secret"


def _client(services, hops: int):  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        edge_enroll_token_sha256=(hashlib.sha256(ENROLL_TOKEN.encode()).hexdigest(),),
        device_token_pepper="test-pepper",
        enroll_rate_per_minute=1,
        trusted_proxy_hops=hops,
    )
    ENROLL_WINDOW._hits.clear()
    return create_app(services).test_client()


def _enroll(client, device_id: str, forwarded_for: str) -> int:  # type: ignore[no-untyped-def]
    return int(
        client.post(
            "/api/edge/enroll",
            json={"device_id": device_id, "enroll_fingerprint": "fp-forwarded"},
            headers={"X-Device-Enroll-Token": ENROLL_TOKEN, "X-Forwarded-For": forwarded_for},
        ).status_code
    )


def test_with_one_trusted_hop_each_forwarded_client_has_its_own_enrollment_limit(services) -> None:
    client = _client(services, hops=1)
    assert _enroll(client, "fwd-a", "198.51.100.1") == 201
    assert _enroll(client, "fwd-b", "198.51.100.2") == 201  # another device behind the same front end
    assert _enroll(client, "fwd-c", "198.51.100.1") == 429  # the first client again: its limit
    # a client's own entry before the proxy's does not buy it a new address
    assert _enroll(client, "fwd-d", "203.0.113.9, 198.51.100.1") == 429


def test_without_trusted_hops_a_forwarded_header_is_ignored(services) -> None:
    client = _client(services, hops=0)
    assert _enroll(client, "fwd-e", "198.51.100.1") == 201
    assert _enroll(client, "fwd-f", "198.51.100.2") == 429  # same socket peer: the header is not believed

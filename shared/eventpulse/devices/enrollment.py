"""Enrollment: what a device presenting the fleet token and its fingerprint gets (a pure decision).

- an unknown id is created, bound to the fingerprint;
- a known id rotates its token only when the fingerprint matches the one it enrolled with, or when an
  admin provisioned it without one (the first enrollment binds it);
- a revoked device never enrolls; a fingerprint mismatch is refused (and audited by the caller): that
  is how a stolen or guessed device id fails to take over a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eventpulse.devices.tokens import hashes_match
from eventpulse.ports.devices import Device

EnrollOutcome = Literal["create", "rotate", "bind", "revoked", "fingerprint_mismatch"]


@dataclass(frozen=True)
class EnrollDecision:
    outcome: EnrollOutcome

    @property
    def allowed(self) -> bool:
        return self.outcome in ("create", "rotate", "bind")


def decide_enrollment(existing: Device | None, presented_fingerprint_hash: str) -> EnrollDecision:
    if existing is None:
        return EnrollDecision("create")
    if existing.status == "revoked":
        return EnrollDecision("revoked")
    if existing.fingerprint_hash is None:
        return EnrollDecision("bind")
    if hashes_match(existing.fingerprint_hash, presented_fingerprint_hash):
        return EnrollDecision("rotate")
    return EnrollDecision("fingerprint_mismatch")

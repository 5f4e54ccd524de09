"""Authenticating devices: signed requests (native) and per-device secrets (trackers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from openem.devices.pairing import LiveDevice, active_key
from openem.errors import Unauthorised
from openem.ingest.signatures import ReplayGuard, SignatureRejected, verify_device_request


class DeviceUnauthorised(Unauthorised):
    def __init__(self, reason: str) -> None:
        super().__init__(f"device request refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _resolver(
    session: Session, found: dict[str, LiveDevice]
) -> Callable[[str], Ed25519PublicKey | None]:
    def resolve(key_id: str) -> Ed25519PublicKey | None:
        try:
            device_id = uuid.UUID(key_id)
        except ValueError:
            return None
        device = active_key(session, device_id)
        if device is None:
            return None
        found[key_id] = device
        return device.public_key

    return resolve


def signed_device(
    session: Session,
    *,
    request: SignedRequest,
    now: datetime,
    replay_guard: ReplayGuard | None = None,
) -> LiveDevice:
    found: dict[str, LiveDevice] = {}
    try:
        key_id = verify_device_request(
            method=request.method,
            path=request.path,
            headers=request.headers,
            body=request.body,
            resolve_key=_resolver(session, found),
            now=now,
            replay_guard=replay_guard,
        )
    except SignatureRejected as rejected:
        raise DeviceUnauthorised(str(rejected)) from rejected
    return found[key_id]

"""Authenticating devices: signed requests (native) and per-device secrets (trackers)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from openem.devices.pairing import LiveDevice, active_key, active_keys
from openem.errors import Unauthorised
from openem.ingest.signatures import ReplayGuard, SignatureRejected, verify_device_request

_KEY_ID = re.compile(r'keyid="([0-9a-fA-F-]{36})"')


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

    @cached_property
    def claimed_device_id(self) -> uuid.UUID | None:
        """The device the request says it comes from (its ``keyid``), before any
        verification; read once (the writer groups uploads by it, then looks keys up)."""
        match = _KEY_ID.search(self.headers.get("signature-input", ""))
        try:
            return uuid.UUID(match.group(1)) if match else None
        except ValueError:
            return None


def _resolver(
    session: Session | Connection, found: dict[str, LiveDevice], known: dict[uuid.UUID, LiveDevice]
) -> Callable[[str], Ed25519PublicKey | None]:
    def resolve(key_id: str) -> Ed25519PublicKey | None:
        try:
            device_id = uuid.UUID(key_id)
        except ValueError:
            return None
        device = known.get(device_id) or active_key(session, device_id)
        if device is None:
            return None
        found[key_id] = device
        return device.public_key

    return resolve


def signed_device(
    session: Session | Connection,
    *,
    request: SignedRequest,
    now: datetime,
    replay_guard: ReplayGuard | None = None,
    known: dict[uuid.UUID, LiveDevice] | None = None,
) -> LiveDevice:
    """The live device that signed ``request``; ``known`` holds devices already looked up."""
    found: dict[str, LiveDevice] = {}
    try:
        key_id = verify_device_request(
            method=request.method,
            path=request.path,
            headers=request.headers,
            body=request.body,
            resolve_key=_resolver(session, found, known or {}),
            now=now,
            replay_guard=replay_guard,
        )
    except SignatureRejected as rejected:
        raise DeviceUnauthorised(str(rejected)) from rejected
    return found[key_id]


def signed_devices(
    session: Session | Connection, requests: list[SignedRequest], *, now: datetime
) -> list[LiveDevice | DeviceUnauthorised]:
    """:func:`signed_device` for several requests, looking their keys up in one query."""
    claimed = [device_id for r in requests if (device_id := r.claimed_device_id) is not None]
    known = active_keys(session, claimed)
    outcomes: list[LiveDevice | DeviceUnauthorised] = []
    for request in requests:
        try:
            outcomes.append(signed_device(session, request=request, now=now, known=known))
        except DeviceUnauthorised as refused:
            outcomes.append(refused)
    return outcomes

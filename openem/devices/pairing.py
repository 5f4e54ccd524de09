"""Pairing: a technician gets a one-time code; the device trades it and its key for an id."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Table, select, update
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import SYSTEM, Principal
from openem.crypto.digests import sha256_hex
from openem.db.bulk import query_by_key
from openem.devices.models import Device, DeviceKey, DeviceSecret, DeviceState, PairingCode
from openem.devices.service import change_state, end_assignment
from openem.errors import Invalid, NotFound
from openem.subjects.models import MonitoringMode

CODE_TTL = timedelta(minutes=15)
MAX_FAILED_ATTEMPTS = 5
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class IssuedCode:
    device_id: uuid.UUID
    code: str
    expires_at: datetime


def issue_pairing_code(
    session: Session, *, principal: Principal, device_id: uuid.UUID, now: datetime
) -> IssuedCode:
    require(principal, "devices:write")
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("no such device")
    if device.state in (DeviceState.retired, DeviceState.faulty):
        raise Invalid(f"a {device.state} device cannot be paired", field="device_id")
    session.execute(
        update(PairingCode)
        .where(PairingCode.device_id == device_id, PairingCode.used_at.is_(None))
        .values(used_at=now)
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    session.add(
        PairingCode(device_id=device_id, code_hash=sha256_hex(code), expires_at=now + CODE_TTL)
    )
    audit.record(
        session,
        principal=principal,
        action="device.pairing_code",
        record_type="device",
        record_id=device_id,
    )
    return IssuedCode(device_id=device_id, code=code, expires_at=now + CODE_TTL)


def _public_key(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as error:
        raise Invalid("public_key must be a raw 32-byte Ed25519 key", field="public_key") from error


PAIRING_REFUSED = "pairing refused: unknown device, or a wrong, used or expired code"


def pair_device(
    session: Session, *, serial: str, code: str, public_key: bytes, now: datetime
) -> Device | None:
    """The device's side: one attempt with the code. ``None`` means refused; the caller
    commits (so failed attempts count) and then refuses without saying which part was wrong."""
    _public_key(public_key)
    device = session.scalar(select(Device).where(Device.serial == serial))
    if device is None:
        return None
    pending = session.scalar(
        select(PairingCode)
        .where(PairingCode.device_id == device.id, PairingCode.used_at.is_(None))
        .order_by(PairingCode.expires_at.desc())
    )
    if pending is None or pending.expires_at <= now:
        return None
    if not hmac.compare_digest(pending.code_hash, sha256_hex(code.strip().upper())):
        pending.failed_attempts += 1
        if pending.failed_attempts >= MAX_FAILED_ATTEMPTS:
            pending.used_at = now
        return None
    pending.used_at = now
    session.execute(
        update(DeviceKey)
        .where(DeviceKey.device_id == device.id, DeviceKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.add(DeviceKey(device_id=device.id, public_key=public_key, created_at=now))
    if device.state == DeviceState.stock:
        change_state(device, DeviceState.paired)
    audit.record(
        session,
        principal=SYSTEM,
        action="device.paired",
        record_type="device",
        record_id=device.id,
        subject_id=device.subject_id,
    )
    return device


_DEVICE_KEYS: Table = DeviceKey.__table__  # type: ignore[assignment]
FULL_TRAIL = MonitoringMode.full_trail.value
# The request path runs this for every batch of signed device requests.
_LIVE_DEVICES = (
    "SELECT d.id, d.subject_id, d.order_id, d.serving_since, k.public_key, "
    "o.starts_at, o.ends_at, o.monitoring_mode "
    "FROM device_keys AS k JOIN devices AS d ON d.id = k.device_id "
    "LEFT JOIN orders AS o ON o.id = d.order_id "
    "WHERE k.{key_in} AND k.revoked_at IS NULL AND d.state <> {parameter}"
)


@dataclass(frozen=True, slots=True)
class OrderTerm:
    """When the order a device serves runs, and whether it keeps every fix (its mode)."""

    starts_at: datetime
    ends_at: datetime
    full_trail: bool

    def keeps_all(self, first: datetime, last: datetime) -> bool:
        """Whether every fix taken from ``first`` to ``last`` is kept under the order."""
        return self.full_trail and self.starts_at <= first and last < self.ends_at


@dataclass(frozen=True, slots=True)
class LiveDevice:
    """A paired, not retired device, its current public key, and the term of the order it
    serves (read with the key: ingest needs it for every upload)."""

    id: uuid.UUID
    subject_id: uuid.UUID | None
    order_id: uuid.UUID | None
    serving_since: datetime | None
    public_key: Ed25519PublicKey
    order_term: OrderTerm | None = None


def active_key(session: Session | Connection, device_id: uuid.UUID) -> LiveDevice | None:
    """The device and its live key, or None if unknown, retired or never paired."""
    return active_keys(session, [device_id]).get(device_id)


def active_keys(
    session: Session | Connection, device_ids: list[uuid.UUID]
) -> dict[uuid.UUID, LiveDevice]:
    """:func:`active_key` for several devices in one query; absent ones are left out."""
    if not device_ids:
        return {}
    rows = query_by_key(session, _LIVE_DEVICES, _DEVICE_KEYS, "device_id", device_ids,
                        DeviceState.retired.value)
    return {
        device.id: device
        for device in (
            LiveDevice(
                id=_uuid(id_),
                subject_id=subject_id and _uuid(subject_id),
                order_id=order_id and _uuid(order_id),
                serving_since=serving_since and _stored_time(serving_since),
                public_key=_stored_key(bytes(public_key)),
                order_term=starts_at and OrderTerm(
                    _stored_time(starts_at), _stored_time(ends_at), mode == FULL_TRAIL
                ),
            )
            for id_, subject_id, order_id, serving_since, public_key, starts_at, ends_at, mode
            in rows
        )
    }


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    """A UUID as the driver gave it (text on SQLite)."""
    return uuid.UUID(value) if isinstance(value, str) else value


def _stored_time(value: datetime | str) -> datetime:
    """A time as the driver gave it (text without its zone on SQLite), in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@lru_cache(maxsize=65_536)
def _stored_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def retire_device(
    session: Session, *, principal: Principal, device_id: uuid.UUID, now: datetime
) -> Device:
    require(principal, "devices:write")
    device = session.get(Device, device_id, with_for_update=True, populate_existing=True)
    if device is None:
        raise NotFound("no such device")
    subject_id = device.subject_id
    change_state(device, DeviceState.retired)
    end_assignment(session, device, now=now)
    session.execute(
        update(DeviceKey)
        .where(DeviceKey.device_id == device_id, DeviceKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(DeviceSecret)
        .where(DeviceSecret.device_id == device_id, DeviceSecret.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    audit.record(
        session,
        principal=principal,
        action="device.retire",
        record_type="device",
        record_id=device.id,
        subject_id=subject_id,
    )
    return device


def issue_tracker_secret(
    session: Session, *, principal: Principal, device_id: uuid.UUID, now: datetime
) -> str:
    """A per-device secret for OwnTracks / OsmAnd clients; shown once, stored hashed."""
    require(principal, "devices:write")
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("no such device")
    if device.state in (DeviceState.retired, DeviceState.faulty):
        raise Invalid(f"a {device.state} device gets no tracker secret", field="device_id")
    session.execute(
        update(DeviceSecret)
        .where(DeviceSecret.device_id == device_id, DeviceSecret.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    secret = secrets.token_urlsafe(24)
    session.add(DeviceSecret(device_id=device_id, secret_hash=sha256_hex(secret), created_at=now))
    audit.record(
        session,
        principal=principal,
        action="device.tracker_secret",
        record_type="device",
        record_id=device_id,
    )
    return secret


def device_for_secret(session: Session, *, identifier: str, secret: str) -> Device | None:
    """The device whose serial is ``identifier`` and whose live secret is ``secret``."""
    device = session.scalar(select(Device).where(Device.serial == identifier))
    if device is None or device.state == DeviceState.retired:
        return None
    stored = session.scalar(
        select(DeviceSecret.secret_hash).where(
            DeviceSecret.device_id == device.id, DeviceSecret.revoked_at.is_(None)
        )
    )
    if stored is None or not hmac.compare_digest(stored, sha256_hex(secret)):
        return None
    return device

"""Worn devices and their assignment to orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin, TimestampMixin, utcnow


class DeviceState(StrEnum):
    stock = "stock"
    paired = "paired"
    assigned = "assigned"
    faulty = "faulty"
    retired = "retired"


class Device(IdMixin, TimestampMixin, Base):
    __tablename__ = "devices"

    kind: Mapped[str] = mapped_column(String(32))
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    firmware: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=DeviceState.stock, index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    # Since when it has served its order, or (once taken off one) nobody: what it took
    # before then is not its current holder's. None: never on an order.
    serving_since: Mapped[datetime | None]


class DeviceAssignment(IdMixin, Base):
    """History of which device served which order, so evidence can name the device."""

    __tablename__ = "device_assignments"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    unassigned_at: Mapped[datetime | None] = mapped_column(index=True)
    # The assignment ended because a technician took the device off the wearer (then the
    # same as unassigned_at): a strap cut or case opened just before is not tamper.
    removed_at: Mapped[datetime | None]


class DeviceKey(IdMixin, Base):
    """A device's Ed25519 public key; retiring the device revokes it."""

    __tablename__ = "device_keys"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class PairingCode(IdMixin, Base):
    __tablename__ = "pairing_codes"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)


class DeviceSecret(IdMixin, Base):
    """Shared secret for trackers that cannot sign (OwnTracks, OsmAnd); only a hash is kept."""

    __tablename__ = "device_secrets"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class DeviceHealth(Base):
    """Current state of a device, kept up to date as telemetry arrives."""

    __tablename__ = "device_health"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    last_seen_at: Mapped[datetime | None]
    last_fix_at: Mapped[datetime | None]
    last_fix_lat: Mapped[float | None]
    last_fix_lon: Mapped[float | None]
    last_fix_accuracy_m: Mapped[float | None]
    battery_level: Mapped[int | None]
    charging: Mapped[bool | None]
    strap_state: Mapped[str | None] = mapped_column(String(16))
    case_state: Mapped[str | None] = mapped_column(String(16))
    worn: Mapped[bool | None]
    signal_rssi: Mapped[int | None]


class InboxItem(Base):
    """What the server has for a device: configuration, wearer messages, check-in prompts."""

    __tablename__ = "device_inbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    # Whom the item was for (the device's subject when posted): retention deletes by it.
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    # Not acknowledged when the device left the order: never sent to anyone again.
    withdrawn_at: Mapped[datetime | None]

"""Worn devices and their assignment to orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
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


class DeviceAssignment(IdMixin, Base):
    """History of which device served which order, so evidence can name the device."""

    __tablename__ = "device_assignments"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    unassigned_at: Mapped[datetime | None]

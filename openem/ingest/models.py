"""Device events other than fixes: battery, strap, case, signal, heartbeat, worn."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base


class DeviceEvent(Base):
    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index("ix_device_events_subject_at", "subject_id", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    subject_id: Mapped[uuid.UUID | None]
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

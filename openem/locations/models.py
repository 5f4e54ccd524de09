"""Stored fixes. Every row keeps subject_id so the table can be sharded on it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index("ix_positions_subject_fixed_at", "subject_id", "fixed_at"),
        Index("ix_positions_fixed_at", "fixed_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    subject_id: Mapped[uuid.UUID | None]
    order_id: Mapped[uuid.UUID | None]
    seq: Mapped[int] = mapped_column(BigInteger)
    fixed_at: Mapped[datetime]
    received_at: Mapped[datetime]
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(8))
    flags: Mapped[str] = mapped_column(String(128), default="")

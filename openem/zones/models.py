"""Zones and their immutable versions: a change is a new version, history is never rewritten."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin, utcnow


class Zone(IdMixin, Base):
    """The zone as a thing that lasts; what it looks like is in its versions."""

    __tablename__ = "zones"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    current_version: Mapped[int] = mapped_column(default=1)
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZoneVersion(IdMixin, Base):
    """One version of a zone, as it was from ``valid_from``; rows are never updated."""

    __tablename__ = "zone_versions"
    __table_args__ = (
        UniqueConstraint("zone_id", "version"),
        Index("ix_zone_versions_subject_id", "subject_id"),
    )

    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    shape: Mapped[dict[str, Any]] = mapped_column(JSON)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    retired: Mapped[bool] = mapped_column(default=False)
    valid_from: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]

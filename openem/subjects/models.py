"""Subjects (people under a monitoring order) and their monitoring orders."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin, TimestampMixin


class DeviceKind(StrEnum):
    fitted_tag = "fitted_tag"
    smartwatch = "smartwatch"


class ImmigrationStatus(StrEnum):
    deportation_order = "deportation_order"
    liable_to_removal = "liable_to_removal"
    immigration_bail = "immigration_bail"
    limited_leave_with_conditions = "limited_leave_with_conditions"


class MonitoringMode(StrEnum):
    full_trail = "full_trail"
    curfew_only = "curfew_only"
    checkin_only = "checkin_only"


class OrderStatus(StrEnum):
    active = "active"
    ended = "ended"


class RiskLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class Subject(IdMixin, TimestampMixin, Base):
    __tablename__ = "subjects"

    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date]
    nationality: Mapped[str] = mapped_column(String(3))
    home_office_reference: Mapped[str] = mapped_column(String(32), unique=True)
    pnc_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    prison_number: Mapped[str | None] = mapped_column(String(32))
    sex: Mapped[str | None] = mapped_column(String(32))
    ethnic_group: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    risk_level: Mapped[str] = mapped_column(String(16), default=RiskLevel.medium)
    caseload_team: Mapped[str | None] = mapped_column(String(64), index=True)
    fictional: Mapped[bool] = mapped_column(default=False)


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "orders"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    legal_basis_reference: Mapped[str] = mapped_column(String(200))
    offence: Mapped[str] = mapped_column(Text)
    court: Mapped[str] = mapped_column(String(200))
    conviction_date: Mapped[date]
    immigration_status: Mapped[str] = mapped_column(String(64))
    device_kind: Mapped[str] = mapped_column(String(32))
    monitoring_mode: Mapped[str] = mapped_column(String(32), default=MonitoringMode.full_trail)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    checkins_per_day: Mapped[int] = mapped_column(default=0)
    waking_window_start: Mapped[time | None]
    waking_window_end: Mapped[time | None]
    next_review_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.active, index=True)

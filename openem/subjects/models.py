"""Subjects (people under a monitoring order) and their monitoring orders."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
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
    curfew_start: Mapped[time | None]
    curfew_end: Mapped[time | None]

    @property
    def cohort(self) -> str:
        return cohort_of(self.immigration_status, self.device_kind)


def cohort_of(immigration_status: str, device_kind: str) -> str:
    """A cohort is an immigration status with a kind of device: what an assessment covers."""
    return f"{immigration_status}/{device_kind}"


class ReviewDecision(StrEnum):
    continue_ = "continue"
    relax_mode = "relax_mode"
    fewer_checkins = "fewer_checkins"
    end = "end"


class OrderReview(IdMixin, Base):
    """A proportionality review of one order: the decision and who made it."""

    __tablename__ = "order_reviews"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    decision: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[uuid.UUID | None]
    reviewer_role: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime]
    monitoring_mode: Mapped[str | None] = mapped_column(String(32))
    checkins_per_day: Mapped[int | None]
    next_review_on: Mapped[date | None]


class ReviewEscalation(IdMixin, Base):
    """An overdue review raised to supervisors; one per order and missed review date."""

    __tablename__ = "review_escalations"
    __table_args__ = (UniqueConstraint("order_id", "due_on"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    due_on: Mapped[date]
    escalated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class AssessmentKind(StrEnum):
    dpia = "dpia"
    equality = "equality"


class ImpactAssessment(IdMixin, Base):
    """A DPIA or equality impact assessment for one cohort; orders need both, approved, in date."""

    __tablename__ = "impact_assessments"
    __table_args__ = (UniqueConstraint("kind", "cohort", "version"),)

    kind: Mapped[str] = mapped_column(String(16))
    cohort: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    less_intrusive_options: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(String(200))
    approved_on: Mapped[date]
    valid_until: Mapped[date]
    recorded_by: Mapped[uuid.UUID | None]
    recorded_at: Mapped[datetime]

"""Alerts, the evidence behind them, and every event in their life (for the stream too)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin
from openem.rules.findings import EvidenceKind

__all__ = ["Alert", "AlertEvent", "AlertEvidence", "AlertStatus", "EvidenceKind", "Outcome"]


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    assigned = "assigned"
    resolved = "resolved"


class Outcome(StrEnum):
    breach_confirmed = "breach_confirmed"
    false_alarm = "false_alarm"
    technical_fault = "technical_fault"
    excused = "excused"


class Alert(IdMixin, Base):
    """One ongoing condition: it starts, may end, and gathers evidence meanwhile."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("subject_id", "type", "key"),
        Index("ix_alerts_status_raised_at", "status", "raised_at"),
    )

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    alert_class: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int]
    key: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.open)
    device_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    zone_id: Mapped[uuid.UUID | None]
    zone_version_id: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None]
    assigned_to: Mapped[uuid.UUID | None]
    assigned_at: Mapped[datetime | None]
    assigned_by: Mapped[uuid.UUID | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None]


class AlertEvidence(Base):
    """A fix, device event or check-in decision that caused or sustained an alert."""

    __tablename__ = "alert_evidence"
    __table_args__ = (UniqueConstraint("alert_id", "kind", "ref"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    ref: Mapped[str] = mapped_column(String(100))
    device_id: Mapped[uuid.UUID | None]
    seq: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime | None]


class AlertEvent(Base):
    """Append-only: raised, updated, ended, escalated, acknowledged, assigned, resolved."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"), index=True)
    subject_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    actor_id: Mapped[uuid.UUID | None]
    actor_role: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

"""Check-in tables: per-order seeds, daily plans, prompts, decisions and face enrolments.

Every per-subject table keeps ``subject_id`` (sharding, retention). Frames, photos and
templates live in the encrypted blob store; rows hold only their blob ids.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base, IdMixin, utcnow


class PromptStatus(StrEnum):
    scheduled = "scheduled"  # planned, not yet sent to the device
    issued = "issued"  # in the device inbox, window open
    passed = "passed"
    failed = "failed"
    missed = "missed"
    technical = "technical"
    cancelled = "cancelled"  # replaced when the order changed


OPEN_STATUSES = (PromptStatus.scheduled, PromptStatus.issued)


class CheckinSeed(Base):
    """The random seed of an order's schedule: seed + order + local date give the times."""

    __tablename__ = "checkin_seeds"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    seed: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckinPlan(IdMixin, Base):
    """One order's prompts for one local day, with the inputs they were drawn from."""

    __tablename__ = "checkin_plans"
    __table_args__ = (UniqueConstraint("order_id", "local_date"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    local_date: Mapped[date]
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckinPrompt(IdMixin, Base):
    """A prompt: when it is due, its response window, challenge, and its outcome."""

    __tablename__ = "checkin_prompts"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkin_plans.id"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id"))
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    challenge: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PromptStatus.scheduled, index=True)
    inbox_item_id: Mapped[int | None]
    issued_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    answered_at: Mapped[datetime | None]  # first well-formed answer, decided or not
    reason: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]


class CheckinDecision(IdMixin, Base):
    """One attempt at a prompt and the evidence of its decision."""

    __tablename__ = "checkin_decisions"
    __table_args__ = (UniqueConstraint("prompt_id", "attempt"),)

    prompt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkin_prompts.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    attempt: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None]
    threshold: Mapped[float]
    model_version: Mapped[str] = mapped_column(String(128))
    quality: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    liveness: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    frame_blob_ids: Mapped[list[str]] = mapped_column(JSON)
    captured_at: Mapped[datetime]
    received_at: Mapped[datetime]
    fix: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class FaceEnrolment(IdMixin, Base):
    """A subject's template (encrypted blob) with its photos and model version."""

    __tablename__ = "face_enrolments"

    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    template_blob_id: Mapped[uuid.UUID]
    photo_blob_ids: Mapped[list[str]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(128))
    quality: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    enrolled_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]

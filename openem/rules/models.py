"""What the rules remember between messages: per-condition state and processed items."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from openem.db.base import Base


class RuleState(Base):
    """State of one rule for one subject: (subject, "zone", zone id), (subject, "battery",
    device id), ... The zone state is a serialised hysteresis ViolationState."""

    __tablename__ = "rule_states"

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class ProcessedItem(Base):
    """A telemetry item the rules have taken: a redelivered batch is not taken twice."""

    __tablename__ = "rule_processed_items"

    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    processed_at: Mapped[datetime]

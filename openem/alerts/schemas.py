"""Alert output and the inputs of each lifecycle step."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from openem.alerts.models import Outcome


class EvidenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    ref: str
    device_id: uuid.UUID | None
    seq: int | None
    at: datetime | None


class AlertEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    detail: dict[str, Any]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: uuid.UUID
    type: str
    alert_class: str
    priority: int
    status: str
    device_id: uuid.UUID | None
    zone_id: uuid.UUID | None
    zone_version_id: uuid.UUID | None
    started_at: datetime
    ended_at: datetime | None
    late: bool
    detail: dict[str, Any]
    raised_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    assigned_to: uuid.UUID | None
    assigned_at: datetime | None
    assigned_by: uuid.UUID | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    outcome: str | None
    note: str | None
    escalation_level: int
    escalated_at: datetime | None


class AlertDetailOut(AlertOut):
    evidence: list[EvidenceOut]
    events: list[AlertEventOut]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID


class ResolveIn(BaseModel):
    """The person's decision; ``breach_confirmed`` is never set any other way."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: Annotated[str, Field(min_length=1, max_length=4000)]

"""API shapes of the retention domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openem.retention.models import RightsRequestKind, RightsRequestStatus


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScheduleOut(BaseModel):
    data_class: str
    days: int
    event: str
    description: str


class CertificateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    data_class: str
    count: int
    retention_days: int
    event: str
    cutoff: datetime
    ids_sha256: str
    issued_at: datetime


class HoldCreate(Strict):
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: AwareDatetime


class HoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: uuid.UUID
    reason: str
    placed_by_role: str
    placed_at: datetime
    expires_at: datetime
    released_at: datetime | None


class RightsRequestCreate(Strict):
    kind: RightsRequestKind
    detail: str = Field(min_length=1, max_length=4000)


class RightsRequestClose(Strict):
    status: RightsRequestStatus
    outcome: str = Field(min_length=1, max_length=4000)


class RightsRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: uuid.UUID
    kind: RightsRequestKind
    detail: str
    status: RightsRequestStatus
    received_at: datetime
    resolved_at: datetime | None
    outcome: str | None


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    device_id: uuid.UUID
    language: str
    version: str
    trigger: str
    sent_at: datetime
    delivered_at: datetime | None
    acked_at: datetime | None

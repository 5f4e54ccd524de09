"""API shapes for login, sessions, TOTP, API tokens, the audit trail and reviews."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from openem.access.breakglass import ReviewOutcome
from openem.access.models import Role
from openem.access.schemas import Strict


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(None, pattern=r"^[0-9]{6}$")


class SessionOut(BaseModel):
    user_id: uuid.UUID
    username: str
    role: Role
    organisation_id: uuid.UUID
    csrf_token: str
    expires_at: datetime
    totp_setup_required: bool
    password_change_required: bool


class TotpEnrolmentOut(BaseModel):
    secret: str
    provisioning_uri: str


class TotpConfirmIn(Strict):
    code: str = Field(pattern=r"^[0-9]{6}$")


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordChangedOut(BaseModel):
    other_sessions_ended: int


class TokenCreate(Strict):
    label: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    ttl_days: int = Field(90, ge=1, le=365)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    label: str
    scopes: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenIssuedOut(TokenOut):
    secret: str


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    actor_organisation_id: uuid.UUID | None
    action: str
    record_type: str
    record_id: str | None
    subject_id: uuid.UUID | None
    purpose: str | None
    purpose_detail: str | None
    outcome: str
    source: str | None
    prev_hash: str
    hash: str


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None


class AccessReportRow(BaseModel):
    action: str
    outcome: str
    role: str | None
    count: int


class AccessReportOut(BaseModel):
    since: datetime | None
    until: datetime | None
    rows: list[AccessReportRow]


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    subject_id: uuid.UUID | None
    actor_id: uuid.UUID
    data_class: str
    reason: str
    status: str
    created_at: datetime
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    outcome: str | None
    note: str | None


class ReviewResolve(Strict):
    outcome: ReviewOutcome
    note: str = Field(min_length=1, max_length=2000)

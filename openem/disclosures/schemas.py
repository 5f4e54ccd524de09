"""API shapes for police requests, grants and the disclosure register."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from openem.disclosures.models import DisclosedClass, RequestKind

MAX_RADIUS_M = 500
MAX_LOCATION_WINDOW = timedelta(hours=6)
MAX_SUBJECT_WINDOW = timedelta(days=366)
MAX_GRANT_DAYS = 90


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequestCreate(Strict):
    """A subject request (``subject_reference`` + ``data_classes``) or a location inquiry
    (``latitude``, ``longitude``, ``radius_m``); both with a window, a crime or incident
    reference and a legal basis."""

    kind: RequestKind
    subject_reference: str | None = Field(None, min_length=1, max_length=32)
    data_classes: list[DisclosedClass] = Field(default_factory=list, max_length=4)
    window_start: AwareDatetime
    window_end: AwareDatetime
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    radius_m: int | None = Field(None, ge=1)
    crime_reference: str = Field(min_length=1, max_length=64)
    legal_basis: str = Field(min_length=1, max_length=200)
    justification: str = Field(min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.kind == RequestKind.location:
            if None in (self.latitude, self.longitude, self.radius_m):
                raise ValueError("a location inquiry needs latitude, longitude and radius_m")
            if self.subject_reference is not None:
                raise ValueError("a location inquiry names no subject")
            if self.radius_m is not None and self.radius_m > MAX_RADIUS_M:
                raise ValueError(f"radius_m is at most {MAX_RADIUS_M}")
            if self.window_end - self.window_start > MAX_LOCATION_WINDOW:
                raise ValueError("a location inquiry covers at most 6 hours")
            self.data_classes = [DisclosedClass.presence]
        else:
            if not self.subject_reference:
                raise ValueError("a subject request needs subject_reference")
            if not self.data_classes or DisclosedClass.presence in self.data_classes:
                raise ValueError("a subject request needs data_classes (not presence)")
            if self.window_end - self.window_start > MAX_SUBJECT_WINDOW:
                raise ValueError("a subject request covers at most 366 days")
            if (self.latitude, self.longitude, self.radius_m) != (None, None, None):
                raise ValueError("a subject request takes no location")
        return self


class RequestOut(BaseModel):
    """What the requester sees: never the resolved subject."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: RequestKind
    status: str
    requester_id: uuid.UUID
    data_classes: str
    window_start: datetime
    window_end: datetime
    radius_m: int | None
    crime_reference: str
    legal_basis: str
    created_at: datetime
    decided_at: datetime | None
    refusal_reason: str | None
    grant_id: uuid.UUID | None = None


class GrantCreate(Strict):
    valid_days: int = Field(7, ge=1, le=MAX_GRANT_DAYS)
    conditions: str | None = Field(None, max_length=2000)


class RefusalCreate(Strict):
    reason: str = Field(min_length=5, max_length=2000)


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID
    grantee_id: uuid.UUID
    approver_id: uuid.UUID
    data_classes: str
    window_start: datetime
    window_end: datetime
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    conditions: str | None


class DisclosedProfile(BaseModel):
    subject_id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: date
    nationality: str
    pnc_id: str | None


class DisclosedOrder(BaseModel):
    id: uuid.UUID
    legal_basis_reference: str
    device_kind: str
    monitoring_mode: str
    starts_at: datetime
    ends_at: datetime
    status: str


class DisclosedFix(BaseModel):
    fixed_at: datetime
    lat: float
    lon: float


class SubjectDisclosureOut(BaseModel):
    grant_id: uuid.UUID
    data_class: DisclosedClass
    disclosure_id: uuid.UUID
    profile: DisclosedProfile | None = None
    orders: list[DisclosedOrder] | None = None
    trail: list[DisclosedFix] | None = None


class PresenceOut(BaseModel):
    grant_id: uuid.UUID
    disclosure_ids: list[uuid.UUID]
    subjects: list[DisclosedProfile]


class DisclosureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grant_id: uuid.UUID
    request_id: uuid.UUID
    subject_id: uuid.UUID | None
    data_class: str
    record_count: int
    recipient_id: uuid.UUID
    recipient_organisation_id: uuid.UUID
    approver_id: uuid.UUID
    legal_basis: str
    crime_reference: str
    window_start: datetime
    window_end: datetime
    disclosed_at: datetime

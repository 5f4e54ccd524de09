"""API shapes for subjects and orders.

Self-declared sex and ethnic group are accepted for bias monitoring only and
never appear in any response shape.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from openem.access.purposes import DataClass, Purpose
from openem.subjects.models import (
    AssessmentKind,
    DeviceKind,
    ImmigrationStatus,
    MonitoringMode,
    ReviewDecision,
    RiskLevel,
)

# A BCP 47 language tag as OpenEM keeps it: "en", "pl", "pt-BR".
LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _nationality(value: str) -> str:
    code = value.upper()
    if len(code) != 3 or pycountry.countries.get(alpha_3=code) is None:
        raise ValueError("nationality must be an ISO 3166-1 alpha-3 code")
    return code


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError("timezone must be an IANA time zone name") from error
    return value


def _birth_date(value: date) -> date:
    if value >= date.today():
        raise ValueError("date of birth must be in the past")
    if value.year < 1900:
        raise ValueError("date of birth is before 1900")
    return value


# A wall-clock time in the subject's own time zone: no UTC offset, so not JSON Schema's
# "format: time" (RFC 3339 requires an offset there).
LocalTime = Annotated[
    time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-2][0-9]:[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$",
            "description": "local time of day (HH:MM[:SS]) in the subject's time zone",
        }
    ),
]


class SubjectCreate(Strict):
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    date_of_birth: date
    nationality: str
    home_office_reference: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9/-]+$")
    pnc_id: str | None = Field(None, max_length=32, pattern=r"^[0-9]{2,4}/[0-9]{1,7}[A-Z]$")
    prison_number: str | None = Field(None, max_length=32, pattern=r"^[A-Za-z0-9]+$")
    sex: str | None = Field(None, max_length=32)
    ethnic_group: str | None = Field(None, max_length=64)
    language: str = Field("en", pattern=LANGUAGE_TAG)
    timezone: str = "Europe/London"
    risk_level: RiskLevel = RiskLevel.medium
    caseload_team: str | None = Field(None, max_length=64)

    _check_nationality = field_validator("nationality")(_nationality)
    _check_timezone = field_validator("timezone")(_timezone)
    _check_birth = field_validator("date_of_birth")(_birth_date)


class SubjectUpdate(Strict):
    given_name: str | None = Field(None, min_length=1, max_length=200)
    family_name: str | None = Field(None, min_length=1, max_length=200)
    date_of_birth: date | None = None
    nationality: str | None = None
    pnc_id: str | None = Field(None, max_length=32, pattern=r"^[0-9]{2,4}/[0-9]{1,7}[A-Z]$")
    prison_number: str | None = Field(None, max_length=32, pattern=r"^[A-Za-z0-9]+$")
    language: str | None = Field(None, pattern=LANGUAGE_TAG)
    timezone: str | None = None
    risk_level: RiskLevel | None = None
    caseload_team: str | None = Field(None, max_length=64)

    @field_validator("nationality")
    @classmethod
    def _nat(cls, value: str | None) -> str | None:
        return None if value is None else _nationality(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _timezone(value)

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, value: date | None) -> date | None:
        return None if value is None else _birth_date(value)


class SubjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: date
    nationality: str
    home_office_reference: str
    pnc_id: str | None
    prison_number: str | None
    language: str
    timezone: str
    risk_level: RiskLevel
    caseload_team: str | None
    fictional: bool
    created_at: datetime


class Conviction(Strict):
    offence: str | None = Field(None, min_length=1, max_length=2000)
    court: str | None = Field(None, min_length=1, max_length=200)
    conviction_date: date | None = None


class OrderCreate(Strict):
    subject_id: uuid.UUID
    legal_basis_reference: str = Field(min_length=1, max_length=200)
    conviction: Conviction | None = None
    immigration_status: ImmigrationStatus | None = None
    device_kind: DeviceKind
    monitoring_mode: MonitoringMode = MonitoringMode.full_trail
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    checkins_per_day: int = Field(0, ge=0, le=5)
    waking_window_start: time | None = None
    waking_window_end: time | None = None
    next_review_on: date | None = None
    curfew_start: time | None = Field(None, description="Local time; used by curfew_only")
    curfew_end: time | None = Field(None, description="Local time; may be past midnight")


class OrderUpdate(Strict):
    monitoring_mode: MonitoringMode | None = None
    ends_at: AwareDatetime | None = None
    checkins_per_day: int | None = Field(None, ge=0, le=5)
    waking_window_start: time | None = None
    waking_window_end: time | None = None
    next_review_on: date | None = None
    curfew_start: time | None = None
    curfew_end: time | None = None


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: uuid.UUID
    legal_basis_reference: str
    offence: str
    court: str
    conviction_date: date
    immigration_status: ImmigrationStatus
    device_kind: DeviceKind
    monitoring_mode: MonitoringMode
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    checkins_per_day: int
    waking_window_start: LocalTime | None
    waking_window_end: LocalTime | None
    next_review_on: date
    status: str
    curfew_start: time | None
    curfew_end: time | None
    created_at: datetime


class HistoryAccessIn(Strict):
    data_class: DataClass
    purpose: Purpose
    detail: str = Field(min_length=1, max_length=2000)


class BreakGlassIn(Strict):
    data_class: DataClass
    reason: str = Field(min_length=10, max_length=2000)


class HistoryAccessOut(BaseModel):
    subject_id: uuid.UUID
    data_class: DataClass
    purpose: str | None
    opened_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    break_glass: bool
    review_task_id: uuid.UUID | None = None


class ReviewCreate(Strict):
    decision: ReviewDecision
    reasons: str = Field(min_length=1, max_length=4000)
    monitoring_mode: MonitoringMode | None = None
    checkins_per_day: int | None = Field(None, ge=1, le=5)
    next_review_on: date | None = None


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    decision: ReviewDecision
    reasons: str
    reviewer_role: str
    decided_at: datetime
    monitoring_mode: MonitoringMode | None
    checkins_per_day: int | None
    next_review_on: date | None


class EscalationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    due_on: date
    escalated_at: datetime
    resolved_at: datetime | None


class AssessmentCreate(Strict):
    kind: AssessmentKind
    cohort: str = Field(min_length=3, max_length=100, description="immigration_status/device_kind")
    version: str = Field(min_length=1, max_length=32)
    summary: str = Field(min_length=1, max_length=20_000)
    less_intrusive_options: str = Field(min_length=1, max_length=20_000)
    approver: str = Field(min_length=1, max_length=200)
    approved_on: date
    valid_until: date


class AssessmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: AssessmentKind
    cohort: str
    version: str
    summary: str
    less_intrusive_options: str
    approver: str
    approved_on: date
    valid_until: date

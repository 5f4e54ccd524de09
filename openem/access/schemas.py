"""API shapes for organisations and staff users."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from openem.access.models import OrganisationKind, Role


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganisationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: OrganisationKind


class OrganisationUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: OrganisationKind | None = None


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrganisationKind
    created_at: datetime


class UserCreate(Strict):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    organisation_id: uuid.UUID
    team: str | None = Field(None, max_length=64)
    password: str = Field(min_length=12, max_length=256)


class UserUpdate(Strict):
    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    team: str | None = Field(None, max_length=64)
    active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    organisation_id: uuid.UUID
    team: str | None
    active: bool
    created_at: datetime
    # When the account's TOTP second factor was set up; null while it has none.
    totp_enabled_at: datetime | None

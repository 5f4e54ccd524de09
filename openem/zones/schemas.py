"""Zone input and output. Geometry is GeoJSON; schedules are weekly wall-clock windows."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openem.zones.index import ZoneKind


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)] = [
        0, 1, 2, 3, 4, 5, 6
    ]
    start: time
    end: time
    overnight: bool = False


class AbsenceIn(BaseModel):
    """An approved absence (a hospital appointment): the zone does not apply meanwhile."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    reference: Annotated[str, Field(max_length=100)] = ""


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: Annotated[str | None, Field(max_length=64)] = None
    windows: Annotated[list[WindowIn], Field(max_length=28)] = []


class ZoneCreate(BaseModel):
    """``geometry`` is a GeoJSON Polygon, or a Point with ``radius_m``; a Feature also works."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: ZoneKind
    geometry: dict[str, Any]
    radius_m: float | None = None
    schedule: ScheduleIn | None = None
    absences: Annotated[list[AbsenceIn], Field(max_length=100)] = []


class ZoneUpdate(BaseModel):
    """Every field given replaces the current version's; the result is a new version."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    geometry: dict[str, Any] | None = None
    radius_m: float | None = None
    schedule: ScheduleIn | None = None
    absences: Annotated[list[AbsenceIn] | None, Field(max_length=100)] = None
    clear_schedule: bool = False


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(validation_alias="zone_id")
    version_id: uuid.UUID = Field(validation_alias="id")
    subject_id: uuid.UUID
    version: int
    name: str
    kind: str
    shape: dict[str, Any]
    schedule: dict[str, Any] | None
    retired: bool
    valid_from: datetime
    created_at: datetime

"""API shapes for devices."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openem.devices.models import DeviceState, InboxItem
from openem.subjects.models import DeviceKind
from openem.subjects.schemas import LANGUAGE_TAG

SERIAL = r"^[A-Za-z0-9._:-]+$"
SERIAL_PREFIX = r"^[A-Za-z0-9._:-]*$"  # a search: empty means any


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeviceCreate(Strict):
    kind: DeviceKind
    serial: str = Field(min_length=1, max_length=64, pattern=SERIAL)
    firmware: str | None = Field(None, max_length=64)


class DeviceUpdate(Strict):
    firmware: str | None = Field(None, max_length=64)
    state: DeviceState | None = None


class DeviceAssign(Strict):
    order_id: uuid.UUID
    fitted_at: AwareDatetime | None = Field(
        None,
        description="When the device was fitted or handed over, if recorded afterwards (at "
        "most 24 hours ago, not before it was last taken off an order); default now. What "
        "it took before then is not stored as the subject's.",
    )


class DeviceRemoval(Strict):
    removed_at: AwareDatetime | None = Field(
        None,
        description="When the technician took the device off the wearer, if recorded "
        "afterwards (at most 24 hours ago, not before it was fitted); default now. What it "
        "took after then is not stored as the subject's.",
    )


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: DeviceKind
    serial: str
    firmware: str | None
    state: DeviceState
    order_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    serving_since: datetime | None
    created_at: datetime


class DeviceHealthOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: uuid.UUID
    state: DeviceState
    last_seen_at: datetime | None = None
    last_fix_at: datetime | None = None
    battery_level: int | None = None
    charging: bool | None = None
    strap_state: str | None = None
    case_state: str | None = None
    worn: bool | None = None
    signal_rssi: int | None = None


class PairingCodeOut(BaseModel):
    device_id: uuid.UUID
    code: str
    expires_at: datetime


class TrackerSecretOut(BaseModel):
    device_id: uuid.UUID
    secret: str



class WearerMessageCreate(Strict):
    text: str = Field(min_length=1, max_length=500, description="Shown on the device as written")
    language: str | None = Field(
        None, pattern=LANGUAGE_TAG, description="The text's language; the subject's by default"
    )


class WearerMessageOut(BaseModel):
    id: int
    device_id: uuid.UUID
    topic: str | None
    text: str
    language: str | None
    sent_at: datetime
    delivered_at: datetime | None
    acked_at: datetime | None
    withdrawn_at: datetime | None = Field(
        description="Not acknowledged when the device left the order: never shown"
    )

    @classmethod
    def from_item(cls, item: InboxItem) -> WearerMessageOut:
        return cls(
            id=item.id, device_id=item.device_id, topic=item.payload.get("topic"),
            text=str(item.payload.get("text", "")), language=item.payload.get("language"),
            sent_at=item.created_at, delivered_at=item.delivered_at, acked_at=item.acked_at,
            withdrawn_at=item.withdrawn_at,
        )

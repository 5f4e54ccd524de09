"""Staff API: the device registry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.devices import messages, pairing, service
from openem.devices.models import Device, DeviceState
from openem.devices.schemas import (
    SERIAL_PREFIX,
    DeviceAssign,
    DeviceCreate,
    DeviceHealthOut,
    DeviceOut,
    DeviceRemoval,
    DeviceUpdate,
    PairingCodeOut,
    TrackerSecretOut,
    WearerMessageCreate,
    WearerMessageOut,
)
from openem.http.deps import DbSession, requires
from openem.http.schemas import PageOut
from openem.pagination import Page
from openem.subjects.models import DeviceKind

router = APIRouter(prefix="/api/v1", tags=["devices"])

ReadDevices = Annotated[Principal, Depends(requires("devices:read"))]
WriteDevices = Annotated[Principal, Depends(requires("devices:write"))]
ReadMessages = Annotated[Principal, Depends(requires("messages:read"))]
SendMessages = Annotated[Principal, Depends(requires("messages:send"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/devices", status_code=201, response_model=DeviceOut)
def register_device(data: DeviceCreate, session: DbSession, principal: WriteDevices) -> Device:
    return service.register_device(session, principal=principal, data=data)


@router.get("/devices", response_model=PageOut[DeviceOut])
def list_devices(
    session: DbSession,
    principal: ReadDevices,
    state: DeviceState | None = None,
    kind: DeviceKind | None = None,
    serial: Annotated[
        str | None, Query(max_length=64, pattern=SERIAL_PREFIX, description="Serials starting so")
    ] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[Device]:
    return service.list_devices(
        session, principal=principal, state=state, kind=kind, serial=serial, cursor=cursor,
        limit=limit,
    )


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: uuid.UUID, session: DbSession, principal: ReadDevices) -> Device:
    return service.get_device(session, principal=principal, device_id=device_id)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(
    device_id: uuid.UUID, data: DeviceUpdate, session: DbSession, principal: WriteDevices
) -> Device:
    return service.update_device(
        session, principal=principal, device_id=device_id, data=data, now=utcnow()
    )


@router.post("/devices/{device_id}/assignment", response_model=DeviceOut)
def assign_device(
    device_id: uuid.UUID, data: DeviceAssign, session: DbSession, principal: WriteDevices
) -> Device:
    return service.assign_device(session, principal=principal, device_id=device_id,
                                 order_id=data.order_id, now=utcnow(), fitted_at=data.fitted_at)


@router.delete("/devices/{device_id}/assignment", response_model=DeviceOut)
def unassign_device(device_id: uuid.UUID, session: DbSession, principal: WriteDevices) -> Device:
    """Take the device off its order (returned or swapped): from now on nothing it sends
    is the subject's. Devices of an ended order are released by the rules sweep."""
    return service.unassign_device(session, principal=principal, device_id=device_id, now=utcnow())


@router.post("/devices/{device_id}/removal", response_model=DeviceOut)
def record_removal(
    device_id: uuid.UUID, data: DeviceRemoval, session: DbSession, principal: WriteDevices
) -> Device:
    """A technician took the device off its wearer (strap cut or undone): it is taken off
    its order as of then, and the strap cut or case opened of the removal raises no tamper
    alert."""
    return service.record_removal(session, principal=principal, device_id=device_id,
                                  now=utcnow(), removed_at=data.removed_at)


@router.post("/devices/{device_id}/pairing-code", status_code=201, response_model=PairingCodeOut)
def issue_pairing_code(
    device_id: uuid.UUID, session: DbSession, principal: WriteDevices
) -> PairingCodeOut:
    """A one-time code (15 minutes, single use) the technician types into the device."""
    issued = pairing.issue_pairing_code(
        session, principal=principal, device_id=device_id, now=utcnow()
    )
    return PairingCodeOut(
        device_id=issued.device_id, code=issued.code, expires_at=issued.expires_at
    )


@router.post("/devices/{device_id}/retirement", response_model=DeviceOut)
def retire_device(device_id: uuid.UUID, session: DbSession, principal: WriteDevices) -> Device:
    """Retire the device: its key and tracker secret are revoked at once."""
    return pairing.retire_device(session, principal=principal, device_id=device_id, now=utcnow())


@router.post(
    "/devices/{device_id}/tracker-secret", status_code=201, response_model=TrackerSecretOut
)
def issue_tracker_secret(
    device_id: uuid.UUID, session: DbSession, principal: WriteDevices
) -> TrackerSecretOut:
    """A secret for OwnTracks / OsmAnd clients, shown once; replaces any earlier one."""
    secret = pairing.issue_tracker_secret(
        session, principal=principal, device_id=device_id, now=utcnow()
    )
    return TrackerSecretOut(device_id=device_id, secret=secret)


@router.get("/devices/{device_id}/health", response_model=DeviceHealthOut)
def device_health(
    device_id: uuid.UUID, session: DbSession, principal: ReadDevices
) -> DeviceHealthOut:
    """Last seen, last fix, battery, charging, strap and case state."""
    return service.device_health(session, principal=principal, device_id=device_id)


@router.post(
    "/subjects/{subject_id}/messages", status_code=201, response_model=list[WearerMessageOut]
)
def send_wearer_message(
    subject_id: uuid.UUID, data: WearerMessageCreate, session: DbSession,
    principal: SendMessages,
) -> list[WearerMessageOut]:
    """A message for the wearer, to each device they wear, delivered through its inbox."""
    items = messages.send(session, principal=principal, subject_id=subject_id,
                          text=data.text, language=data.language, now=utcnow())
    return [WearerMessageOut.from_item(item) for item in items]


@router.get("/subjects/{subject_id}/messages", response_model=PageOut[WearerMessageOut])
def list_wearer_messages(
    subject_id: uuid.UUID,
    session: DbSession,
    principal: ReadMessages,
    before: Annotated[int | None, Query(ge=1, description="next_cursor of the page before")] = None,
    limit: Limit = 100,
) -> PageOut[WearerMessageOut]:
    """Messages sent to the wearer, the latest first by page, each page oldest first."""
    page = messages.list_messages(session, principal=principal, subject_id=subject_id,
                                  before=before, limit=limit)
    return PageOut(items=[WearerMessageOut.from_item(item) for item in page.items],
                   next_cursor=page.next_cursor)

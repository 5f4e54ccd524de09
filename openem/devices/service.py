"""Device registry and assignment of devices to orders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import SYSTEM, Principal
from openem.devices import inbox
from openem.devices.models import (
    Device,
    DeviceAssignment,
    DeviceHealth,
    DeviceSecret,
    DeviceState,
)
from openem.devices.schemas import DeviceCreate, DeviceHealthOut, DeviceUpdate
from openem.errors import Conflict, Invalid, NotFound
from openem.pagination import Page, paginate
from openem.subjects.models import Order, OrderStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    DeviceState.stock: frozenset({DeviceState.paired, DeviceState.faulty, DeviceState.retired}),
    DeviceState.paired: frozenset({DeviceState.assigned, DeviceState.faulty, DeviceState.retired}),
    DeviceState.assigned: frozenset({DeviceState.paired, DeviceState.faulty, DeviceState.retired}),
    DeviceState.faulty: frozenset({DeviceState.stock, DeviceState.retired}),
    DeviceState.retired: frozenset(),
}
# How long after a fitting it may still be recorded as of the time it happened.
LATEST_FITTING_RECORD = timedelta(hours=24)


# Called after a device is assigned to an order (enrolment), in the same transaction.
AssignmentHook = Callable[[Session, Device, Order, datetime], None]
_assignment_hooks: dict[str, AssignmentHook] = {}


def on_assignment(name: str, hook: AssignmentHook) -> None:
    """Register (or replace, by name) a hook run at enrolment, e.g. the privacy notice."""
    _assignment_hooks[name] = hook


def register_device(session: Session, *, principal: Principal, data: DeviceCreate) -> Device:
    require(principal, "devices:write")
    if session.scalar(select(Device.id).where(Device.serial == data.serial)):
        raise Conflict("a device with that serial exists", field="serial")
    device = Device(kind=data.kind, serial=data.serial, firmware=data.firmware)
    session.add(device)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="device.create",
        record_type="device",
        record_id=device.id,
    )
    return device


def get_device(session: Session, *, principal: Principal, device_id: uuid.UUID) -> Device:
    require(principal, "devices:read")
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("no such device")
    return device


def change_state(device: Device, state: str) -> None:
    if state != device.state and state not in ALLOWED_TRANSITIONS[device.state]:
        raise Invalid(f"a {device.state} device cannot become {state}", field="state")
    device.state = state


def end_assignment(session: Session, device: Device, *, now: datetime) -> None:
    """The device no longer serves its order: the assignment is closed, the device and
    its health row no longer name the subject, so nothing it sends from now on is theirs
    (no alerts, no caseload status), what its inbox still held for them is withdrawn, and
    its tracker-app secret is revoked. No-op for a device serving no order."""
    if device.order_id is None and device.subject_id is None:
        return
    session.execute(
        update(DeviceAssignment)
        .where(DeviceAssignment.device_id == device.id, DeviceAssignment.unassigned_at.is_(None))
        .values(unassigned_at=now)
    )
    session.execute(
        update(DeviceHealth).where(DeviceHealth.device_id == device.id).values(subject_id=None)
    )
    inbox.withdraw(session, device_id=device.id, now=now)
    # A tracker app runs on the wearer's own phone and would go on reporting where they are.
    session.execute(
        update(DeviceSecret)
        .where(DeviceSecret.device_id == device.id, DeviceSecret.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    device.order_id = device.subject_id = None
    device.serving_since = now


def update_device(
    session: Session,
    *,
    principal: Principal,
    device_id: uuid.UUID,
    data: DeviceUpdate,
    now: datetime,
) -> Device:
    require(principal, "devices:write")
    device = get_device(session, principal=principal, device_id=device_id)
    if data.state is not None:
        if data.state == DeviceState.assigned and device.state != DeviceState.assigned:
            raise Invalid("a device is assigned to an order through its assignment",
                          field="state")
        change_state(device, data.state)
        if device.state != DeviceState.assigned:
            end_assignment(session, device, now=now)
    if "firmware" in data.model_fields_set:
        device.firmware = data.firmware
    audit.record(
        session,
        principal=principal,
        action="device.update",
        record_type="device",
        record_id=device.id,
        subject_id=device.subject_id,
    )
    return device


def assign_device(
    session: Session,
    *,
    principal: Principal,
    device_id: uuid.UUID,
    order_id: uuid.UUID,
    now: datetime,
    fitted_at: datetime | None = None,
) -> Device:
    """Put the device on the order as of ``fitted_at`` (default ``now``): from then on what
    it takes is the subject's."""
    require(principal, "devices:write")
    device = get_device(session, principal=principal, device_id=device_id)
    order = session.get(Order, order_id)
    if order is None:
        raise Invalid("no such order", field="order_id")
    if order.status != OrderStatus.active:
        raise Invalid("the order is not active", field="order_id")
    if order.device_kind != device.kind:
        raise Invalid("the order needs a different kind of device", field="order_id")
    if device.state not in (DeviceState.stock, DeviceState.paired):
        raise Invalid("only an unassigned, working device can be assigned", field="device_id")
    since = _fitted_at(device, fitted_at=fitted_at, now=now)
    device.state = DeviceState.assigned
    device.order_id, device.subject_id, device.serving_since = order.id, order.subject_id, since
    session.add(
        DeviceAssignment(
            device_id=device.id, order_id=order.id, subject_id=order.subject_id, assigned_at=since
        )
    )
    audit.record(
        session,
        principal=principal,
        action="device.assign",
        record_type="device",
        record_id=device.id,
        subject_id=order.subject_id,
    )
    session.flush()
    for hook in _assignment_hooks.values():
        hook(session, device, order, now)
    return device


def _fitted_at(device: Device, *, fitted_at: datetime | None, now: datetime) -> datetime:
    if fitted_at is None:
        return now
    if fitted_at > now:
        raise Invalid("the fitting time is in the future", field="fitted_at")
    if fitted_at < now - LATEST_FITTING_RECORD:
        raise Invalid("a fitting is recorded within 24 hours", field="fitted_at")
    released = device.serving_since  # when it was taken off its last order, if ever
    if released is not None and fitted_at < released:
        raise Invalid("the fitting time is before the device was last taken off an order",
                      field="fitted_at")
    return fitted_at


def unassign_device(
    session: Session, *, principal: Principal, device_id: uuid.UUID, now: datetime
) -> Device:
    """The device is taken off its order (returned, swapped, or the order is over): it
    goes back to ``paired`` and keeps its key, ready for another order."""
    require(principal, "devices:write")
    device = get_device(session, principal=principal, device_id=device_id)
    if device.state != DeviceState.assigned:
        raise Invalid("the device is not assigned to an order", field="device_id")
    _unassign(session, device, principal=principal, now=now)
    return device


def _unassign(session: Session, device: Device, *, principal: Principal, now: datetime) -> None:
    subject_id = device.subject_id
    change_state(device, DeviceState.paired)
    end_assignment(session, device, now=now)
    audit.record(
        session,
        principal=principal,
        action="device.unassign",
        record_type="device",
        record_id=device.id,
        subject_id=subject_id,
    )


def release_ended_orders(session: Session, *, now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Unassign every device whose order has ended (by review or by its end date), so
    that nothing more is stored or raised for the subject; returns the (device, subject)
    pairs released."""
    query = (
        select(Device)
        .join(Order, Order.id == Device.order_id)
        .where(
            Device.state == DeviceState.assigned,
            or_(Order.status != OrderStatus.active, Order.ends_at <= now),
        )
        .order_by(Device.id)
        .with_for_update(of=Device)
    )
    released: list[tuple[uuid.UUID, uuid.UUID]] = []
    for device in list(session.scalars(query)):
        subject_id = device.subject_id
        _unassign(session, device, principal=SYSTEM, now=now)
        if subject_id is not None:
            released.append((device.id, subject_id))
    return released


def list_devices(
    session: Session,
    *,
    principal: Principal,
    state: str | None = None,
    kind: str | None = None,
    subject_id: uuid.UUID | None = None,
    serial: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Device]:
    require(principal, "devices:read")
    query = select(Device)
    if serial:
        query = query.where(Device.serial.startswith(serial, autoescape=True))
    if subject_id:
        query = query.where(Device.subject_id == subject_id)
    if state:
        query = query.where(Device.state == state)
    if kind:
        query = query.where(Device.kind == kind)
    return paginate(session, query, Device.id, cursor=cursor, limit=limit)


def device_health(
    session: Session, *, principal: Principal, device_id: uuid.UUID
) -> DeviceHealthOut:
    device = get_device(session, principal=principal, device_id=device_id)
    health = session.get(DeviceHealth, device_id)
    fields = (
        {}
        if health is None
        else {
            name: getattr(health, name)
            for name in DeviceHealthOut.model_fields
            if name not in ("device_id", "state")
        }
    )
    return DeviceHealthOut(device_id=device.id, state=device.state, **fields)


def assigned_health(
    session: Session, *, now: datetime
) -> list[tuple[Device, DeviceHealth | None]]:
    """Every device serving an order in force at ``now``, with its current health (None
    before any contact)."""
    query = (
        select(Device, DeviceHealth)
        .join(Order, Order.id == Device.order_id)
        .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
        .where(
            Device.state == DeviceState.assigned,
            Device.subject_id.is_not(None),
            Order.status == OrderStatus.active,
            Order.ends_at > now,
        )
    )
    return [(device, health) for device, health in session.execute(query).all()]

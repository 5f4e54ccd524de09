"""Device registry and assignment of devices to orders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
# How long after a fitting or a removal it may still be recorded as of when it happened.
LATEST_VISIT_RECORD = timedelta(hours=24)


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


def get_device(
    session: Session, *, principal: Principal, device_id: uuid.UUID, for_update: bool = False
) -> Device:
    """The device; ``for_update`` locks it until commit on PostgreSQL (SQLite has one
    writer at a time), so that two hand-overs of one device cannot both go through."""
    require(principal, "devices:read")
    device = session.get(Device, device_id, with_for_update=for_update,
                         populate_existing=for_update)
    if device is None:
        raise NotFound("no such device")
    return device


def change_state(device: Device, state: str) -> None:
    if state != device.state and state not in ALLOWED_TRANSITIONS[device.state]:
        raise Invalid(f"a {device.state} device cannot become {state}", field="state")
    device.state = state


def end_assignment(
    session: Session, device: Device, *, now: datetime, ended_at: datetime | None = None,
    removed: bool = False,
) -> None:
    """The device no longer serves its order, as of ``ended_at`` (default ``now``): the
    assignment is closed (``removed``: by a technician taking the device off the wearer),
    the device and its health row no longer name the subject, so nothing it takes from
    then on is theirs (no alerts, no caseload status), what its inbox still held for them
    is withdrawn, and its tracker-app secret is revoked. No-op for a device serving no
    order."""
    if device.order_id is None and device.subject_id is None:
        return
    ended = ended_at or now
    session.execute(
        update(DeviceAssignment)
        .where(DeviceAssignment.device_id == device.id, DeviceAssignment.unassigned_at.is_(None))
        .values(unassigned_at=ended, removed_at=ended if removed else None)
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
    device.serving_since = ended


def update_device(
    session: Session,
    *,
    principal: Principal,
    device_id: uuid.UUID,
    data: DeviceUpdate,
    now: datetime,
) -> Device:
    require(principal, "devices:write")
    device = get_device(session, principal=principal, device_id=device_id, for_update=True)
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
    device = get_device(session, principal=principal, device_id=device_id, for_update=True)
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
    released = device.serving_since  # when it was taken off its last order, if ever
    return _recorded_time(fitted_at, now=now, not_before=released, field="fitted_at",
                          what="fitting", before="the device was last taken off an order")


def _recorded_time(
    at: datetime | None, *, now: datetime, not_before: datetime | None, field: str, what: str,
    before: str,
) -> datetime:
    """A technician's visit recorded afterwards: at most a day ago, and in order."""
    if at is None:
        return now
    if at > now:
        raise Invalid(f"the {what} time is in the future", field=field)
    if at < now - LATEST_VISIT_RECORD:
        raise Invalid(f"a {what} is recorded within 24 hours", field=field)
    if not_before is not None and at < not_before:
        raise Invalid(f"the {what} time is before {before}", field=field)
    return at


def unassign_device(
    session: Session, *, principal: Principal, device_id: uuid.UUID, now: datetime
) -> Device:
    """The device is taken off its order (returned, swapped, or the order is over): it
    goes back to ``paired`` and keeps its key, ready for another order."""
    require(principal, "devices:write")
    device = _assigned_device(session, principal=principal, device_id=device_id)
    _unassign(session, device, principal=principal, now=now)
    return device


def record_removal(
    session: Session, *, principal: Principal, device_id: uuid.UUID, now: datetime,
    removed_at: datetime | None = None,
) -> Device:
    """A technician took the device off its wearer at ``removed_at`` (default ``now``):
    it is taken off its order as of then, and the strap cut or case opened of the
    removal is not read as tamper (see openem.rules.device_rules)."""
    require(principal, "devices:write")
    device = _assigned_device(session, principal=principal, device_id=device_id)
    removed = _recorded_time(removed_at, now=now, not_before=device.serving_since,
                             field="removed_at", what="removal", before="the device was fitted")
    _unassign(session, device, principal=principal, now=now, removed_at=removed)
    return device


def _assigned_device(session: Session, *, principal: Principal, device_id: uuid.UUID) -> Device:
    device = get_device(session, principal=principal, device_id=device_id, for_update=True)
    if device.state != DeviceState.assigned:
        raise Invalid("the device is not assigned to an order", field="device_id")
    return device


def _unassign(
    session: Session, device: Device, *, principal: Principal, now: datetime,
    removed_at: datetime | None = None, ended_at: datetime | None = None,
) -> None:
    subject_id = device.subject_id
    change_state(device, DeviceState.paired)
    end_assignment(session, device, now=now, ended_at=removed_at or ended_at,
                   removed=removed_at is not None)
    audit.record(
        session,
        principal=principal,
        action="device.remove" if removed_at else "device.unassign",
        record_type="device",
        record_id=device.id,
        subject_id=subject_id,
    )


@dataclass(frozen=True)
class Served:
    """A device's time on one of the subject's orders."""

    kind: str
    fitted_at: datetime
    ended_at: datetime | None
    removed: bool  # ended by a technician taking the device off the wearer


def devices_served(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, limit: int = 50
) -> list[Served]:
    """The devices that served the subject, latest fitted first."""
    require(principal, "devices:read")
    a = DeviceAssignment
    query = (
        select(Device.kind, a.assigned_at, a.unassigned_at, a.removed_at)
        .join(Device, Device.id == a.device_id)
        .where(a.subject_id == subject_id)
        .order_by(a.assigned_at.desc())
        .limit(limit)
    )
    return [Served(kind, fitted, ended, removed is not None)
            for kind, fitted, ended, removed in session.execute(query)]


def removal_after(
    session: Session, *, device_id: uuid.UUID, subject_id: uuid.UUID, at: datetime,
    within: timedelta,
) -> datetime | None:
    """When a technician took this device off this subject, if that was at most
    ``within`` after ``at``."""
    return session.scalar(
        select(DeviceAssignment.removed_at).where(
            DeviceAssignment.device_id == device_id,
            DeviceAssignment.subject_id == subject_id,
            DeviceAssignment.removed_at >= at,
            DeviceAssignment.removed_at <= at + within,
        ).limit(1)
    )


@dataclass(frozen=True)
class EndedAssignment:
    device_id: uuid.UUID
    subject_id: uuid.UUID
    ended_at: datetime
    removed: bool  # by a technician taking the device off the wearer


def ended_since(session: Session, *, since: datetime) -> list[EndedAssignment]:
    """Every assignment that ended at or after ``since``, earliest first."""
    a = DeviceAssignment
    query = select(a.device_id, a.subject_id, a.unassigned_at, a.removed_at).where(
        a.unassigned_at >= since
    ).order_by(a.unassigned_at, a.device_id)
    return [EndedAssignment(device, subject, ended, removed is not None)
            for device, subject, ended, removed in session.execute(query) if ended]


def release_ended_orders(session: Session, *, now: datetime) -> list[EndedAssignment]:
    """Unassign every device whose order has ended (by review or by its end date), as of
    the order's end (a review that ends an order moves its end to then), so that nothing
    the device took from then on is the subject's. The assignments it ended, however long
    ago (an end recorded late, or a sweep that did not run)."""
    query = (
        select(Device, Order.ends_at)
        .join(Order, Order.id == Device.order_id)
        .where(
            Device.state == DeviceState.assigned,
            or_(Order.status != OrderStatus.active, Order.ends_at <= now),
        )
        .order_by(Device.id)
        .with_for_update(of=Device)
    )
    released = []
    for device, ends_at in list(session.execute(query)):
        # Never before the device began serving the order (an end moved back past it).
        ended_at = max(min(ends_at, now), device.serving_since or ends_at)
        subject_id = device.subject_id
        _unassign(session, device, principal=SYSTEM, now=now, ended_at=ended_at)
        if subject_id is not None:  # always, for a device serving an order
            released.append(EndedAssignment(device.id, subject_id, ended_at, removed=False))
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

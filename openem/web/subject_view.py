"""What the subject page shows, gathered through the domain services (which audit each read)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from openem.access.policy import allows
from openem.access.principal import Principal
from openem.devices import service as devices_service
from openem.devices.schemas import DeviceHealthOut
from openem.subjects import service as subjects_service
from openem.subjects.models import Order, Subject

MAX_ORDERS = 20
MAX_DEVICES = 10
MAX_ASSIGNMENTS = 20


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime | date
    what: str


@dataclass
class SubjectView:
    subject: Subject
    orders: list[Order]
    devices: list[DeviceHealthOut] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def active_order(self) -> Order | None:
        active = [order for order in self.orders if order.status == "active"]
        return max(active, key=lambda order: order.starts_at) if active else None


def _timeline(subject: Subject, orders: list[Order]) -> list[TimelineEntry]:
    entries = [TimelineEntry(subject.created_at, "Record created")]
    for order in orders:
        entries.append(TimelineEntry(order.starts_at, f"Order starts ({order.monitoring_mode})"))
        entries.append(TimelineEntry(order.next_review_on, "Order review due"))
        entries.append(TimelineEntry(order.ends_at, f"Order ends ({order.status})"))
    return sorted(entries, key=lambda entry: _sort_key(entry.at))


def _sort_key(moment: datetime | date) -> str:
    return moment.isoformat()


def subject_view(session: Session, *, principal: Principal, subject_id: uuid.UUID) -> SubjectView:
    """The subject, their orders and devices; raises NotFound outside the viewer's scope."""
    subject = subjects_service.get_subject(session, principal=principal, subject_id=subject_id)
    orders = subjects_service.list_orders(
        session, principal=principal, subject_id=subject_id, limit=MAX_ORDERS
    ).items
    view = SubjectView(subject=subject, orders=orders, timeline=_timeline(subject, orders))
    if allows(principal, "devices:read"):
        devices = devices_service.list_devices(
            session, principal=principal, subject_id=subject_id, limit=MAX_DEVICES
        ).items
        view.devices = [
            devices_service.device_health(session, principal=principal, device_id=device.id)
            for device in devices
        ]
        served = devices_service.devices_served(
            session, principal=principal, subject_id=subject_id, limit=MAX_ASSIGNMENTS
        )
        view.timeline = sorted([*view.timeline, *_device_entries(served)],
                               key=lambda entry: _sort_key(entry.at))
    return view


def _device_entries(served: list[devices_service.Served]) -> list[TimelineEntry]:
    entries = []
    for device in served:
        entries.append(TimelineEntry(device.fitted_at, f"Device fitted ({device.kind})"))
        if device.ended_at is not None:
            how = "removed by a technician" if device.removed else "taken off the order"
            entries.append(TimelineEntry(device.ended_at, f"Device {how} ({device.kind})"))
    return entries

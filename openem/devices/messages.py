"""Messages to the wearer: staff write them, the subject's devices show them, and the inbox
says when each arrived and was read. The text is personal data: it is kept in the inbox
row (deleted with the subject's identity), never in a log or the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import Principal
from openem.devices import inbox
from openem.devices.models import Device, DeviceState, InboxItem
from openem.errors import Conflict
from openem.pagination import Page
from openem.subjects.service import scoped_subject

STAFF_TOPIC = "staff"


def send(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    text: str,
    language: str | None,
    now: datetime,
) -> list[InboxItem]:
    """Put the message in the inbox of each device the subject wears (in the subject's
    language unless another is named); refused when they wear none."""
    require(principal, "messages:send")
    subject = scoped_subject(session, principal=principal, subject_id=subject_id,
                             action="wearer_message.send")
    devices = session.scalars(
        select(Device.id)
        .where(Device.subject_id == subject.id, Device.state == DeviceState.assigned)
        .order_by(Device.id)
    ).all()
    if not devices:
        raise Conflict("the subject wears no assigned device to send the message to")
    payload = {"topic": STAFF_TOPIC, "text": text, "language": language or subject.language}
    items = [
        inbox.post(session, device_id=device_id, kind="message", payload=payload, now=now)
        for device_id in devices
    ]
    audit.record(session, principal=principal, action="wearer_message.send",
                 record_type="inbox_item", record_id=str(items[0].id), subject_id=subject.id)
    return items


def list_messages(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    before: int | None = None,
    limit: int = 100,
) -> Page[InboxItem]:
    """The latest ``limit`` messages sent to the subject's devices (by staff, or by the
    rules such as a battery warning) before inbox item ``before``, oldest first, with
    when each was delivered and acknowledged; ``next_cursor`` pages to older ones."""
    require(principal, "messages:read")
    subject = scoped_subject(session, principal=principal, subject_id=subject_id,
                             action="wearer_message.read")
    query = select(InboxItem).where(
        InboxItem.subject_id == subject.id, InboxItem.kind == "message"
    )
    if before is not None:
        query = query.where(InboxItem.id < before)
    latest = list(session.scalars(query.order_by(InboxItem.id.desc()).limit(limit + 1)))
    older = str(latest[limit - 1].id) if len(latest) > limit else None
    audit.record(session, principal=principal, action="wearer_message.read",
                 record_type="subject", record_id=subject.id, subject_id=subject.id)
    return Page(items=latest[:limit][::-1], next_cursor=older)

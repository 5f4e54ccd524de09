"""Privacy notices: at enrolment and on request, in the wearer's language, via the inbox.

Delivery and acknowledgement are the inbox item's ``delivered_at`` and ``acked_at``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit, caseload
from openem.access.policy import require
from openem.access.principal import SYSTEM, Principal
from openem.config import get_settings
from openem.devices import inbox
from openem.devices import service as devices_service
from openem.devices.models import Device, DeviceState, InboxItem
from openem.errors import Invalid, NotFound
from openem.retention.models import PrivacyNotice
from openem.retention.schedules import Schedule, schedules_from_settings
from openem.subjects import wording
from openem.subjects.models import Order, Subject

NOTICE_VERSION = "2026-1"


def compose(language: str, *, schedules: dict[str, Schedule]) -> dict[str, Any]:
    text = wording.texts(language)
    years = round(schedules["identity"].days / 365.25, 1)
    return {
        "type": "privacy_notice",
        "version": NOTICE_VERSION,
        "language": wording.resolve(language),
        "title": text["notice_title"],
        "what": text["notice_what"],
        "why": text["notice_why"],
        "how_long": text["notice_how_long"].format(years=years),
        "shared_with": text["notice_shared"],
        "rights": text["notice_rights"],
    }


def _send(
    session: Session,
    *,
    subject: Subject,
    device_id: uuid.UUID,
    trigger: str,
    now: datetime,
    schedules: dict[str, Schedule],
) -> PrivacyNotice:
    payload = compose(subject.language, schedules=schedules)
    item = inbox.post(session, device_id=device_id, kind="notice", payload=payload, now=now)
    notice = PrivacyNotice(
        subject_id=subject.id,
        device_id=device_id,
        inbox_item_id=item.id,
        language=payload["language"],
        version=NOTICE_VERSION,
        trigger=trigger,
        sent_at=now,
    )
    session.add(notice)
    session.flush()
    return notice


def _subject(session: Session, principal: Principal, subject_id: uuid.UUID) -> Subject:
    """The subject, if it exists and a case worker's caseload holds it."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("no such subject")
    caseload.require_own_caseload(principal, caseload_team=subject.caseload_team)
    return subject


def send_on_request(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    now: datetime,
    schedules: dict[str, Schedule],
) -> list[PrivacyNotice]:
    require(principal, "notices:write")
    subject = _subject(session, principal, subject_id)
    devices = session.scalars(
        select(Device.id).where(
            Device.subject_id == subject_id, Device.state == DeviceState.assigned
        )
    ).all()
    if not devices:
        raise Invalid(
            "the subject has no assigned device to send the notice to", field="subject_id"
        )
    sent = [
        _send(
            session, subject=subject, device_id=d, trigger="request", now=now, schedules=schedules
        )
        for d in devices
    ]
    audit.record(
        session,
        principal=principal,
        action="privacy_notice.send",
        record_type="privacy_notice",
        record_id=sent[0].id,
        subject_id=subject_id,
    )
    return sent


def at_enrolment(session: Session, device: Device, order: Order, now: datetime) -> None:
    """Assignment hook: the new wearer gets the notice on their device straight away."""
    subject = session.get(Subject, order.subject_id)
    if subject is None:
        return
    schedules = schedules_from_settings(get_settings())
    notice = _send(
        session,
        subject=subject,
        device_id=device.id,
        trigger="enrolment",
        now=now,
        schedules=schedules,
    )
    audit.record(
        session,
        principal=SYSTEM,
        action="privacy_notice.send",
        record_type="privacy_notice",
        record_id=notice.id,
        subject_id=subject.id,
    )


@dataclass(frozen=True)
class NoticeStatus:
    id: uuid.UUID
    device_id: uuid.UUID
    language: str
    version: str
    trigger: str
    sent_at: datetime
    delivered_at: datetime | None
    acked_at: datetime | None


def list_notices(
    session: Session, *, principal: Principal, subject_id: uuid.UUID
) -> list[NoticeStatus]:
    require(principal, "notices:read")
    _subject(session, principal, subject_id)
    rows = session.execute(
        select(PrivacyNotice, InboxItem)
        .join(InboxItem, InboxItem.id == PrivacyNotice.inbox_item_id)
        .where(PrivacyNotice.subject_id == subject_id)
        .order_by(PrivacyNotice.sent_at)
    )
    return [
        NoticeStatus(
            n.id,
            n.device_id,
            n.language,
            n.version,
            n.trigger,
            n.sent_at,
            item.delivered_at,
            item.acked_at,
        )
        for n, item in rows
    ]


def install() -> None:
    devices_service.on_assignment("privacy_notice", at_enrolment)


install()

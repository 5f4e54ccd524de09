"""Built-in sections of the subject-access archive, for the tables that exist in this build.

Other domains may add theirs with ``registry.register_exporter`` (the check-in domain
does). Every query here is filtered by the one subject's id. Staff are never named: a
record keeps their role or organisation, not their id.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access.models import AuditEntry, Organisation
from openem.alerts.models import Alert, AlertEvent, AlertEvidence
from openem.crypto import store
from openem.crypto.envelope import EnvelopeError
from openem.devices.models import Device, DeviceAssignment, InboxItem
from openem.disclosures.register import disclosures_for_subject
from openem.ingest.models import DeviceEvent
from openem.locations.exports import to_geojson
from openem.locations.models import Position
from openem.locations.service import as_fixes
from openem.retention.models import PrivacyNotice, RightsRequest
from openem.retention.registry import ExportScope, ExportSection, register_exporter
from openem.subjects.models import Order, OrderReview, ReviewEscalation, Subject

MEDIA_CLASSES = ("enrolment_media", "checkin_frames")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/octet-stream": "bin"}


def plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def row(record: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        column.key: plain(getattr(record, column.key))
        for column in record.__table__.columns
        if column.key not in exclude
    }


def export_identity(session: Session, scope: ExportScope) -> ExportSection:
    subject = session.get(Subject, scope.subject_id)
    orders = session.scalars(select(Order).where(Order.subject_id == scope.subject_id))
    records = [{"record": "subject"} | row(subject)] if subject else []
    records += [{"record": "order"} | row(order) for order in orders]
    return ExportSection(records=records)


def export_positions(session: Session, scope: ExportScope) -> ExportSection:
    positions = list(
        session.scalars(
            select(Position)
            .where(Position.subject_id == scope.subject_id)
            .order_by(Position.fixed_at)
        )
    )
    trail = json.dumps(to_geojson(as_fixes(positions)), indent=1).encode()
    return ExportSection(
        records=[row(p) for p in positions], files={"trail.geojson": trail} if positions else {}
    )


def export_device_events(session: Session, scope: ExportScope) -> ExportSection:
    query = select(DeviceEvent).where(DeviceEvent.subject_id == scope.subject_id)
    return ExportSection(records=[row(e) for e in session.scalars(query.order_by(DeviceEvent.at))])


def export_devices(session: Session, scope: ExportScope) -> ExportSection:
    """Which devices served the subject and when: fitted, taken off, removed by a technician."""
    query = select(DeviceAssignment, Device.kind, Device.serial).join(
        Device, Device.id == DeviceAssignment.device_id
    ).where(DeviceAssignment.subject_id == scope.subject_id)
    rows = session.execute(query.order_by(DeviceAssignment.assigned_at))
    return ExportSection(records=[
        row(assignment, exclude=("subject_id",)) | {"kind": kind, "serial": serial}
        for assignment, kind, serial in rows
    ])


def export_reviews(session: Session, scope: ExportScope) -> ExportSection:
    reviews = session.scalars(select(OrderReview).where(OrderReview.subject_id == scope.subject_id))
    escalations = session.scalars(
        select(ReviewEscalation).where(ReviewEscalation.subject_id == scope.subject_id)
    )
    records = [{"record": "review"} | row(r, exclude=("reviewer_id",)) for r in reviews]
    records += [{"record": "overdue_review"} | row(e) for e in escalations]
    return ExportSection(records=records)


def export_rights_requests(session: Session, scope: ExportScope) -> ExportSection:
    query = select(RightsRequest).where(RightsRequest.subject_id == scope.subject_id)
    exclude = ("recorded_by", "resolved_by")
    return ExportSection(records=[row(r, exclude=exclude) for r in session.scalars(query)])


def export_privacy_notices(session: Session, scope: ExportScope) -> ExportSection:
    query = select(PrivacyNotice, InboxItem).join(
        InboxItem, InboxItem.id == PrivacyNotice.inbox_item_id
    )
    records = [
        row(notice) | {"delivered_at": plain(item.delivered_at), "acked_at": plain(item.acked_at)}
        for notice, item in session.execute(
            query.where(PrivacyNotice.subject_id == scope.subject_id)
        )
    ]
    return ExportSection(records=records)


def export_device_inbox(session: Session, scope: ExportScope) -> ExportSection:
    """What OpenEM sent to the subject's device: settings, messages, prompts, notices."""
    query = select(InboxItem).where(InboxItem.subject_id == scope.subject_id)
    items = session.scalars(query.order_by(InboxItem.created_at, InboxItem.id))
    return ExportSection(records=[row(item, exclude=("subject_id",)) for item in items])


def export_media(session: Session, scope: ExportScope) -> ExportSection:
    section = ExportSection()
    for record in store.for_subject(
        session, subject_id=scope.subject_id, data_classes=MEDIA_CLASSES
    ):
        entry = row(record, exclude=("wrapped_key", "nonce", "key_id", "subject_id"))
        name = f"photos/{record.id}.{EXTENSIONS.get(record.media_type, 'bin')}"
        try:
            if scope.keyring is None:
                raise EnvelopeError("no key ring")
            section.files[name] = store.read(record, keyring=scope.keyring, data_dir=scope.data_dir)
            entry["file"] = name
        except (EnvelopeError, OSError):
            entry["file"] = None
        section.records.append(entry)
    return section


def export_access_log(session: Session, scope: ExportScope) -> ExportSection:
    """Who accessed the subject's data and why: role, organisation, purpose; no staff names."""
    query = (
        select(AuditEntry, Organisation.name)
        .outerjoin(Organisation, Organisation.id == AuditEntry.actor_organisation_id)
        .where(AuditEntry.subject_id == scope.subject_id)
        .order_by(AuditEntry.seq)
    )
    records = [
        {
            "at": plain(entry.at),
            "action": entry.action,
            "record_type": entry.record_type,
            "by_role": entry.actor_role,
            "by_organisation": organisation,
            "purpose": entry.purpose,
            "purpose_detail": entry.purpose_detail,
            "outcome": entry.outcome,
        }
        for entry, organisation in session.execute(query)
    ]
    return ExportSection(records=records)


STAFF_ON_ALERTS = ("acknowledged_by", "assigned_to", "assigned_by", "resolved_by", "subject_id")


def export_alerts(session: Session, scope: ExportScope) -> ExportSection:
    """Each alert with what caused it and what was done about it, and by which role."""
    alerts = list(session.scalars(
        select(Alert).where(Alert.subject_id == scope.subject_id).order_by(Alert.raised_at)
    ))
    ids = [alert.id for alert in alerts]
    evidence = session.scalars(select(AlertEvidence).where(AlertEvidence.alert_id.in_(ids)))
    events = session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id.in_(ids)).order_by(AlertEvent.at)
    )
    records = [{"record": "alert"} | row(alert, exclude=STAFF_ON_ALERTS) for alert in alerts]
    records += [{"record": "evidence"} | row(item) for item in evidence]
    records += [
        {"record": "event"} | row(event, exclude=("actor_id", "subject_id")) for event in events
    ]
    return ExportSection(records=records)


def export_disclosures(session: Session, scope: ExportScope) -> ExportSection:
    """What was disclosed to the police, when, to which organisation and on what basis. The
    crime reference stays out: it belongs to an investigation, not to the subject."""
    entries = disclosures_for_subject(session, subject_id=scope.subject_id)
    recipients = {entry.recipient_organisation_id for entry in entries}
    organisations = {
        organisation.id: organisation.name
        for organisation in session.scalars(
            select(Organisation).where(Organisation.id.in_(recipients))
        )
    } if recipients else {}
    return ExportSection(records=[
        {
            "disclosed_at": plain(entry.disclosed_at),
            "data_class": entry.data_class,
            "record_count": entry.record_count,
            "to_organisation": organisations.get(entry.recipient_organisation_id),
            "legal_basis": entry.legal_basis,
            "window_start": plain(entry.window_start),
            "window_end": plain(entry.window_end),
        }
        for entry in entries
    ])


def register_builtin() -> None:
    register_exporter("identity", export_identity)
    register_exporter("positions", export_positions)
    register_exporter("device_events", export_device_events)
    register_exporter("devices", export_devices)
    register_exporter("reviews", export_reviews)
    register_exporter("rights_requests", export_rights_requests)
    register_exporter("privacy_notices", export_privacy_notices)
    register_exporter("device_inbox", export_device_inbox)
    register_exporter("alerts", export_alerts)
    register_exporter("disclosures", export_disclosures)
    register_exporter("photos", export_media)
    register_exporter("access_log", export_access_log)


register_builtin()

"""Purgers for the data classes whose tables exist in this build.

Each deletes in batches of ``scope.batch_size`` and returns what it deleted as
``table:id`` strings for the deletion certificate.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.orm import Session

from openem.access import chain
from openem.access.models import AuditEntry, ReviewTask
from openem.alerts.models import Alert, AlertEvent, AlertEvidence
from openem.bus.outbox import OutboxMessage
from openem.crypto import store
from openem.devices.models import Device, DeviceAssignment, DeviceHealth, InboxItem
from openem.disclosures.models import Disclosure, Grant, PoliceRequest
from openem.ingest.models import DeviceEvent
from openem.ingest.service import TELEMETRY_SUBJECT
from openem.locations.models import Position
from openem.retention.certificates import CERTIFICATE_ACTION
from openem.retention.models import BusPurge, LegalHold, PrivacyNotice, RightsRequest
from openem.retention.registry import PurgeScope, register_purger
from openem.rules.models import RuleState
from openem.subjects.models import Order, OrderReview, ReviewEscalation, Subject
from openem.zones.models import Zone, ZoneVersion

ARCHIVE_FOLDERS = ("archives", "exports")


def _delete_in_batches(
    session: Session, model: Any, key: Any, query: Select[Any], batch: int, label: str
) -> list[str]:
    deleted: list[str] = []
    while True:
        ids = list(session.scalars(query.limit(batch)))
        if not ids:
            return deleted
        session.execute(delete(model).where(key.in_(ids)))
        deleted.extend(f"{label}:{identifier}" for identifier in ids)


def _delete_subject_rows(session: Session, scope: PurgeScope, model: Any) -> list[str]:
    """Every row of ``model`` about the scope's subjects, in batches."""
    query = select(model.id).where(model.subject_id.in_(scope.subject_ids))
    return _delete_in_batches(
        session, model, model.id, query, scope.batch_size, model.__tablename__
    )


def subject_archive_dirs(data_dir: Path, subject_id: uuid.UUID) -> list[Path]:
    """Where files about a subject live under OPENEM_DATA_DIR: trail archives, exports."""
    return [data_dir / folder / str(subject_id) for folder in ARCHIVE_FOLDERS]


def _delete_archives(scope: PurgeScope) -> list[str]:
    deleted: list[str] = []
    for subject_id in scope.subject_ids:
        for folder in subject_archive_dirs(scope.data_dir, subject_id):
            if folder.exists():
                deleted.extend(
                    f"file:{path.relative_to(scope.data_dir)}"
                    for path in sorted(folder.rglob("*"))
                    if path.is_file()
                )
                shutil.rmtree(folder)
    return deleted


def _devices_of(session: Session, subject_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    assigned = select(DeviceAssignment.device_id).where(
        DeviceAssignment.subject_id.in_(subject_ids)
    )
    fixes = select(Position.device_id).where(Position.subject_id.in_(subject_ids)).distinct()
    events = select(DeviceEvent.device_id).where(DeviceEvent.subject_id.in_(subject_ids))
    return set(session.scalars(assigned.union(fixes, events.distinct())))


def _telemetry_off_the_bus(session: Session, scope: PurgeScope) -> list[str]:
    """Drop unrelayed outbox rows and queue a bus purge for each device and subject."""
    devices = _devices_of(session, scope.subject_ids)
    wanted = {str(subject_id) for subject_id in scope.subject_ids}
    deleted: list[str] = []
    for device_id in sorted(devices, key=str):
        bus_subject = f"{TELEMETRY_SUBJECT}.{device_id}"
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.payload).where(
                OutboxMessage.subject == bus_subject
            )
        ).all()
        ids = [row.id for row in rows if json.loads(row.payload).get("subject_id") in wanted]
        if ids:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            deleted.extend(f"outbox:{identifier}" for identifier in ids)
        for subject_id in scope.subject_ids:
            session.add(
                BusPurge(bus_subject=bus_subject, subject_id=subject_id, created_at=scope.now)
            )
    return deleted


def purge_positions(session: Session, scope: PurgeScope) -> list[str]:
    query = select(Position.id).where(Position.subject_id.in_(scope.subject_ids))
    deleted = _delete_in_batches(
        session, Position, Position.id, query, scope.batch_size, "positions"
    )
    return deleted + _telemetry_off_the_bus(session, scope) + _delete_archives(scope)


def purge_device_events(session: Session, scope: PurgeScope) -> list[str]:
    query = select(DeviceEvent.id).where(DeviceEvent.subject_id.in_(scope.subject_ids))
    deleted = _delete_in_batches(
        session, DeviceEvent, DeviceEvent.id, query, scope.batch_size, "device_events"
    )
    session.execute(
        update(DeviceHealth)
        .where(DeviceHealth.subject_id.in_(scope.subject_ids))
        .values(subject_id=None)
    )
    return deleted + _telemetry_off_the_bus(session, scope)


def purge_unattributed_telemetry(session: Session, scope: PurgeScope) -> list[str]:
    """Fixes and device events that name no subject (sent by a device serving no order),
    taken at or before the cutoff."""
    positions = select(Position.id).where(
        Position.subject_id.is_(None), Position.fixed_at <= scope.cutoff
    )
    events = select(DeviceEvent.id).where(
        DeviceEvent.subject_id.is_(None), DeviceEvent.at <= scope.cutoff
    )
    batch = scope.batch_size
    return _delete_in_batches(
        session, Position, Position.id, positions, batch, "positions"
    ) + _delete_in_batches(session, DeviceEvent, DeviceEvent.id, events, batch, "device_events")


def purge_alerts(session: Session, scope: PurgeScope) -> list[str]:
    """Alerts with their evidence and history (children first), and what the rules
    remembered about the subjects."""
    alerts = select(Alert.id).where(Alert.subject_id.in_(scope.subject_ids))
    evidence = select(AlertEvidence.id).where(AlertEvidence.alert_id.in_(alerts))
    events = select(AlertEvent.id).where(AlertEvent.alert_id.in_(alerts))
    batch = scope.batch_size
    deleted = _delete_in_batches(session, AlertEvidence, AlertEvidence.id, evidence, batch,
                                 "alert_evidence")
    deleted += _delete_in_batches(session, AlertEvent, AlertEvent.id, events, batch,
                                  "alert_events")
    deleted += _delete_subject_rows(session, scope, Alert)
    states = session.execute(
        delete(RuleState).where(RuleState.subject_id.in_(scope.subject_ids))
        .returning(RuleState.rule, RuleState.key)
    ).all()
    return deleted + [f"rule_states:{rule}:{key}" for rule, key in states]


def purge_disclosures(session: Session, scope: PurgeScope) -> list[str]:
    """The register's entries about the subjects, then the grants and requests naming them
    (a location inquiry names nobody: only its entries about these subjects go)."""
    requests = select(PoliceRequest.id).where(PoliceRequest.subject_id.in_(scope.subject_ids))
    entries = select(Disclosure.id).where(or_(
        Disclosure.subject_id.in_(scope.subject_ids), Disclosure.request_id.in_(requests)
    ))
    batch = scope.batch_size
    deleted = _delete_in_batches(session, Disclosure, Disclosure.id, entries, batch, "disclosures")
    deleted += _delete_subject_rows(session, scope, Grant)
    return deleted + _delete_subject_rows(session, scope, PoliceRequest)


def purge_orders(session: Session, scope: PurgeScope) -> list[str]:
    subjects, batch = scope.subject_ids, scope.batch_size
    deleted = _delete_subject_rows(session, scope, OrderReview)
    deleted += _delete_subject_rows(session, scope, ReviewEscalation)
    deleted += _delete_subject_rows(session, scope, DeviceAssignment)
    deleted += _delete_subject_rows(session, scope, ZoneVersion)  # the order's zones
    deleted += _delete_subject_rows(session, scope, Zone)
    order_ids = select(Order.id).where(Order.subject_id.in_(subjects))
    session.execute(
        update(Device).where(Device.order_id.in_(order_ids)).values(order_id=None, subject_id=None)
    )
    return deleted + _delete_in_batches(session, Order, Order.id, order_ids, batch, "orders")


def purge_identity(session: Session, scope: PurgeScope) -> list[str]:
    subjects, batch = scope.subject_ids, scope.batch_size
    deleted = purge_orders(session, scope)  # an order cannot outlive its subject
    deleted += _delete_subject_rows(session, scope, RightsRequest)
    deleted += _delete_subject_rows(session, scope, PrivacyNotice)
    deleted += _delete_subject_rows(session, scope, InboxItem)  # after the notices naming them
    deleted += _delete_subject_rows(session, scope, LegalHold)
    session.execute(update(Device).where(Device.subject_id.in_(subjects)).values(subject_id=None))
    blobs = list(
        session.scalars(select(store.BlobRecord).where(store.BlobRecord.subject_id.in_(subjects)))
    )
    deleted += [f"blobs:{i}" for i in store.shred(session, records=blobs, data_dir=scope.data_dir)]
    deleted += _delete_archives(scope)
    query = select(Subject.id).where(Subject.id.in_(subjects))
    return deleted + _delete_in_batches(session, Subject, Subject.id, query, batch, "subjects")


def blob_purger(data_class: str) -> Any:
    """Crypto-shred every blob of ``data_class`` about the subjects (key first, then file)."""

    def purge(session: Session, scope: PurgeScope) -> list[str]:
        records = list(
            session.scalars(
                select(store.BlobRecord).where(
                    store.BlobRecord.subject_id.in_(scope.subject_ids),
                    store.BlobRecord.data_class == data_class,
                )
            )
        )
        deleted = []
        for start in range(0, len(records), scope.batch_size):
            chunk = records[start : start + scope.batch_size]
            deleted += store.shred(session, records=chunk, data_dir=scope.data_dir)
        return [f"blobs:{identifier}" for identifier in deleted]

    return purge


def purge_audit_trail(session: Session, scope: PurgeScope) -> list[str]:
    """The chain's oldest entries, as a prefix (so it still verifies from its anchor); it stops
    at a deletion certificate or at an entry about a held subject, whose case may need it.
    Then the resolved break-glass reviews as old."""
    held = set(scope.held)

    def keep(entry: AuditEntry) -> bool:
        return entry.action == CERTIFICATE_ACTION or entry.subject_id in held

    seqs = chain.truncate_oldest(
        session, cutoff=scope.cutoff, keep=keep, now=scope.now, batch=scope.batch_size
    )
    return [f"audit_entries:{seq}" for seq in seqs] + _purge_review_tasks(session, scope)


def _purge_review_tasks(session: Session, scope: PurgeScope) -> list[str]:
    """Break-glass reviews go with the audit trail they review: once resolved and as old as
    its cutoff, unless about a held subject."""
    query = select(ReviewTask.id).where(
        ReviewTask.resolved_at.is_not(None), ReviewTask.created_at <= scope.cutoff,
        or_(ReviewTask.subject_id.is_(None), ReviewTask.subject_id.not_in(scope.held)),
    )
    return _delete_in_batches(session, ReviewTask, ReviewTask.id, query, scope.batch_size,
                              "review_tasks")


def register_builtin() -> None:
    register_purger("enrolment_media", "blobs", blob_purger("enrolment_media"))
    register_purger("checkin_frames", "blobs", blob_purger("checkin_frames"))
    register_purger("alerts", "alerts", purge_alerts)
    register_purger("disclosures", "disclosures", purge_disclosures)
    register_purger("positions", "positions", purge_positions)
    register_purger("device_events", "device_events", purge_device_events)
    register_purger("orders", "orders", purge_orders)
    register_purger("identity", "identity", purge_identity)
    register_purger("unattributed_telemetry", "telemetry", purge_unattributed_telemetry)
    register_purger("audit_trail", "audit_entries", purge_audit_trail)


register_builtin()

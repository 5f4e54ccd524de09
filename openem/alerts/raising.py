"""How the rules raise, update and end alerts; how unacknowledged alerts escalate.

The same condition always maps to the same (subject, type, key), unique in the
table, so delivering the same input twice never makes two alerts. These
functions never set an outcome: only a person resolves an alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access.principal import Principal
from openem.alerts.models import Alert, AlertEvent, AlertEvidence, AlertStatus
from openem.alerts.types import CATALOGUE, AlertType, priority_for
from openem.bus.outbox import enqueue
from openem.rules.findings import Evidence
from openem.subjects.models import Subject

ALERTS_SUBJECT = "openem.alerts"
MAX_EVIDENCE = 500


def record_event(
    session: Session,
    *,
    alert: Alert,
    action: str,
    now: datetime,
    principal: Principal | None = None,
    detail: dict[str, Any] | None = None,
) -> AlertEvent:
    """Append to the alert's history and queue the change for the bus."""
    event = AlertEvent(
        alert_id=alert.id, subject_id=alert.subject_id, action=action, at=now,
        actor_id=principal.user_id if principal else None,
        actor_role=principal.role if principal else "system", detail=detail or {},
    )
    session.add(event)
    session.flush()
    alert.updated_at = now
    enqueue(
        session,
        subject=f"{ALERTS_SUBJECT}.{alert.subject_id}",
        msg_id=f"alert-event:{alert.id}:{event.id}",
        event={"alert_id": str(alert.id), "subject_id": str(alert.subject_id),
               "action": action, "type": alert.type, "class": alert.alert_class,
               "priority": alert.priority, "at": now.isoformat()},
    )
    return event


def raise_alert(
    session: Session,
    *,
    subject_id: uuid.UUID,
    alert_type: AlertType,
    key: str,
    started_at: datetime,
    now: datetime,
    evidence: Sequence[Evidence] = (),
    late: bool = False,
    device_id: uuid.UUID | None = None,
    zone_id: uuid.UUID | None = None,
    zone_version_id: uuid.UUID | None = None,
    ended_at: datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> tuple[Alert, bool]:
    """The alert for this condition, created once; returns (alert, created)."""
    existing = session.scalars(
        select(Alert).where(
            Alert.subject_id == subject_id, Alert.type == alert_type, Alert.key == key
        )
    ).first()
    if existing is not None:
        added = add_evidence(session, alert=existing, evidence=evidence)
        if added:
            record_event(session, alert=existing, action="updated", now=now,
                         detail={"evidence_added": added})
        return existing, False
    subject = session.get(Subject, subject_id)
    alert = Alert(
        subject_id=subject_id, type=alert_type, alert_class=CATALOGUE[alert_type].alert_class,
        priority=priority_for(alert_type, risk_level=subject.risk_level if subject else None),
        key=key, status=AlertStatus.open, device_id=device_id, zone_id=zone_id,
        zone_version_id=zone_version_id, started_at=started_at, ended_at=ended_at, late=late,
        detail=detail or {}, raised_at=now, updated_at=now, escalation_level=0,
    )
    session.add(alert)
    session.flush()
    add_evidence(session, alert=alert, evidence=evidence)
    record_event(session, alert=alert, action="raised", now=now, detail={"late": late})
    return alert, True


def add_evidence(session: Session, *, alert: Alert, evidence: Iterable[Evidence]) -> int:
    wanted = {(e.kind.value, e.ref): e for e in evidence}
    if not wanted:
        return 0
    rows = session.execute(
        select(AlertEvidence.kind, AlertEvidence.ref).where(AlertEvidence.alert_id == alert.id)
    )
    have = {(kind, ref) for kind, ref in rows}
    room = MAX_EVIDENCE - len(have)
    fresh = [e for k, e in wanted.items() if k not in have][: max(room, 0)]
    for e in fresh:
        session.add(AlertEvidence(alert_id=alert.id, kind=e.kind, ref=e.ref,
                                  device_id=e.device_id, seq=e.seq, at=e.at))
    session.flush()
    return len(fresh)


def ongoing(
    session: Session,
    *,
    subject_id: uuid.UUID,
    alert_type: AlertType | tuple[AlertType, ...],
    device_id: uuid.UUID | None = None,
    zone_id: uuid.UUID | None = None,
) -> Alert | None:
    """The alert of this type (or types) whose condition has not ended (latest first)."""
    types = alert_type if isinstance(alert_type, tuple) else (alert_type,)
    query = select(Alert).where(
        Alert.subject_id == subject_id, Alert.type.in_(types), Alert.ended_at.is_(None)
    )
    if device_id is not None:
        query = query.where(Alert.device_id == device_id)
    if zone_id is not None:
        query = query.where(Alert.zone_id == zone_id)
    return session.scalars(query.order_by(Alert.started_at.desc()).limit(1)).first()


def open_conditions(
    session: Session,
    *,
    subject_id: uuid.UUID,
    alert_types: tuple[AlertType, ...],
    zone_id: uuid.UUID | None = None,
) -> list[Alert]:
    """Every alert of these types whose condition has not ended, oldest first."""
    query = select(Alert).where(
        Alert.subject_id == subject_id, Alert.type.in_(alert_types), Alert.ended_at.is_(None)
    )
    if zone_id is not None:
        query = query.where(Alert.zone_id == zone_id)
    return list(session.scalars(query.order_by(Alert.started_at)))


def end_alert(
    session: Session,
    *,
    alert: Alert,
    ended_at: datetime,
    now: datetime,
    evidence: Sequence[Evidence] = (),
) -> None:
    """The condition is over; the alert stays for review until a person resolves it."""
    if alert.ended_at is not None:
        return
    alert.ended_at = max(ended_at, alert.started_at)
    add_evidence(session, alert=alert, evidence=evidence)
    record_event(session, alert=alert, action="ended", now=now)


def escalate_due(
    session: Session, *, now: datetime, minutes_by_priority: Sequence[int]
) -> list[Alert]:
    """Escalate open alerts nobody acknowledged in time; again for every further period."""
    escalated = []
    for alert in session.scalars(select(Alert).where(Alert.status == AlertStatus.open)):
        period = timedelta(minutes=minutes_by_priority[min(alert.priority, 4) - 1])
        if now - alert.raised_at >= period * (alert.escalation_level + 1):
            alert.escalation_level += 1
            alert.escalated_at = now
            record_event(session, alert=alert, action="escalated", now=now,
                         detail={"level": alert.escalation_level})
            escalated.append(alert)
    return escalated

"""The alert workflow for staff: list, read, acknowledge, assign, resolve, evidence.

Open -> acknowledged -> (assigned) -> resolved, each step with its actor and time.
Resolving needs a person and an outcome with a note; ``breach_confirmed`` needs the
permission to decide breaches. Nothing else ever records a breach.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openem.access import audit, caseload
from openem.access.models import User
from openem.access.policy import require
from openem.access.principal import Principal
from openem.alerts.models import Alert, AlertEvent, AlertEvidence, AlertStatus, Outcome
from openem.alerts.raising import record_event
from openem.errors import Conflict, Forbidden, Invalid, NotFound
from openem.pagination import Page, paginate
from openem.subjects.models import Subject


def visible(principal: Principal, query: Select[Any]) -> Select[Any]:
    """Only alerts on subjects the principal may see (the list and the stream agree)."""
    return query.join(Subject, Subject.id == Alert.subject_id).where(
        caseload.subject_filter(principal, Subject.caseload_team)
    )


def list_alerts(
    session: Session,
    *,
    principal: Principal,
    status: str | None = None,
    subject_id: uuid.UUID | None = None,
    alert_class: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Alert]:
    require(principal, "alerts:read")
    query = visible(principal, select(Alert))
    if status:
        query = query.where(Alert.status == status)
    if subject_id:
        query = query.where(Alert.subject_id == subject_id)
    if alert_class:
        query = query.where(Alert.alert_class == alert_class)
    page = paginate(session, query, Alert.id, cursor=cursor, limit=limit)
    audit.record(session, principal=principal, action="alert.list", record_type="alert",
                 subject_id=subject_id)
    return page


def get_alert(session: Session, *, principal: Principal, alert_id: uuid.UUID) -> Alert:
    require(principal, "alerts:read")
    alert = _alert(session, principal=principal, alert_id=alert_id)
    audit.record(session, principal=principal, action="alert.read", record_type="alert",
                 record_id=alert.id, subject_id=alert.subject_id)
    return alert


def evidence_of(session: Session, *, alert: Alert) -> list[AlertEvidence]:
    query = select(AlertEvidence).where(AlertEvidence.alert_id == alert.id)
    return list(session.scalars(query.order_by(AlertEvidence.at, AlertEvidence.id)))


def events_of(session: Session, *, alert: Alert) -> list[AlertEvent]:
    query = select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)
    return list(session.scalars(query))


def acknowledge(
    session: Session, *, principal: Principal, alert_id: uuid.UUID, now: datetime
) -> Alert:
    require(principal, "alerts:act")
    _person(principal)
    alert = _alert(session, principal=principal, alert_id=alert_id, for_update=True)
    if alert.status != AlertStatus.open:
        raise Conflict(f"the alert is {alert.status}, not open", field="status")
    alert.status = AlertStatus.acknowledged
    alert.acknowledged_at, alert.acknowledged_by = now, principal.user_id
    _step(session, principal=principal, alert=alert, action="acknowledged", now=now)
    return alert


def assign(
    session: Session, *, principal: Principal, alert_id: uuid.UUID, user_id: uuid.UUID,
    now: datetime,
) -> Alert:
    require(principal, "alerts:act")
    _person(principal)
    alert = _alert(session, principal=principal, alert_id=alert_id, for_update=True)
    if alert.status not in (AlertStatus.acknowledged, AlertStatus.assigned):
        raise Conflict("acknowledge the alert before assigning it", field="status")
    assignee = session.get(User, user_id)
    if assignee is None or not assignee.active:
        raise Invalid("no such active user", field="user_id")
    alert.status = AlertStatus.assigned
    alert.assigned_to, alert.assigned_at, alert.assigned_by = user_id, now, principal.user_id
    _step(session, principal=principal, alert=alert, action="assigned", now=now,
          detail={"assigned_to": str(user_id)})
    return alert


def resolve(
    session: Session, *, principal: Principal, alert_id: uuid.UUID, outcome: Outcome, note: str,
    now: datetime,
) -> Alert:
    require(principal, "alerts:resolve")
    _person(principal)
    if outcome == Outcome.breach_confirmed:
        require(principal, "alerts:breach")
    if not note.strip():
        raise Invalid("a resolution needs a note", field="note")
    alert = _alert(session, principal=principal, alert_id=alert_id, for_update=True)
    if alert.status == AlertStatus.resolved:
        raise Conflict("the alert is already resolved", field="status")
    if alert.status == AlertStatus.open:
        raise Conflict("acknowledge the alert before resolving it", field="status")
    alert.status = AlertStatus.resolved
    alert.resolved_at, alert.resolved_by = now, principal.user_id
    alert.outcome, alert.note = outcome, note
    _step(session, principal=principal, alert=alert, action="resolved", now=now,
          detail={"outcome": outcome.value})
    return alert


def _person(principal: Principal) -> None:
    if principal.is_system or principal.user_id is None:
        raise Forbidden("only a person may act on an alert")


def _alert(
    session: Session, *, principal: Principal, alert_id: uuid.UUID, for_update: bool = False
) -> Alert:
    query = select(Alert).where(Alert.id == alert_id)
    if for_update:
        query = query.with_for_update()
    alert = session.scalars(query).first()
    if alert is None:
        raise NotFound("no such alert")
    subject = session.get(Subject, alert.subject_id)
    caseload.require_subject(principal, caseload_team=subject.caseload_team if subject else None)
    return alert


def _step(
    session: Session, *, principal: Principal, alert: Alert, action: str, now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    record_event(session, alert=alert, action=action, now=now, principal=principal, detail=detail)
    audit.record(session, principal=principal, action=f"alert.{action}", record_type="alert",
                 record_id=alert.id, subject_id=alert.subject_id)

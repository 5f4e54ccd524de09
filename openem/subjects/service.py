"""Subjects and monitoring orders, including the scheme's cohort rule."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import caseload_filter, may_read_subject, require
from openem.access.principal import Principal
from openem.errors import Conflict, Forbidden, Invalid, NotFound
from openem.pagination import Page, paginate
from openem.subjects.assessments import require_assessments
from openem.subjects.models import DeviceKind, Order, OrderStatus, Subject, cohort_of
from openem.subjects.schemas import OrderCreate, OrderUpdate, SubjectCreate, SubjectUpdate

DEFAULT_REVIEW_PERIOD = timedelta(days=91)
DEFAULT_WAKING_WINDOW = (time(8, 0), time(21, 0))
MAX_CHECKINS_PER_DAY = 5


def scoped_subject(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, action: str
) -> Subject:
    """The subject if the principal's scope covers it; otherwise 404 (the same answer as for
    an unknown id, so ids from other caseloads reveal nothing), audited as refused."""
    subject = session.get(Subject, subject_id)
    if subject is None or not may_read_subject(principal, caseload_team=subject.caseload_team):
        audit.refuse(
            session,
            principal=principal,
            action=action,
            record_type="subject",
            record_id=subject_id,
            subject_id=subject.id if subject else None,
        )
        raise NotFound("no such subject")
    return subject


def _check_caseload_write(principal: Principal, caseload_team: str | None) -> None:
    if not may_read_subject(principal, caseload_team=caseload_team):
        raise Forbidden("you may place subjects only in your own caseload", field="caseload_team")


def create_subject(session: Session, *, principal: Principal, data: SubjectCreate) -> Subject:
    require(principal, "subjects:write")
    _check_caseload_write(principal, data.caseload_team)
    taken = select(Subject.id).where(Subject.home_office_reference == data.home_office_reference)
    if session.scalar(taken):
        raise Conflict(
            "a subject with that Home Office reference exists", field="home_office_reference"
        )
    if data.pnc_id and session.scalar(select(Subject.id).where(Subject.pnc_id == data.pnc_id)):
        raise Conflict("a subject with that PNC ID exists", field="pnc_id")
    subject = Subject(**data.model_dump())
    session.add(subject)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="subject.create",
        record_type="subject",
        record_id=subject.id,
        subject_id=subject.id,
    )
    return subject


def get_subject(session: Session, *, principal: Principal, subject_id: uuid.UUID) -> Subject:
    require(principal, "subjects:read")
    subject = scoped_subject(
        session, principal=principal, subject_id=subject_id, action="subject.read"
    )
    audit.record(
        session,
        principal=principal,
        action="subject.read",
        record_type="subject",
        record_id=subject.id,
        subject_id=subject.id,
    )
    return subject


def update_subject(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, data: SubjectUpdate
) -> Subject:
    require(principal, "subjects:write")
    subject = scoped_subject(
        session, principal=principal, subject_id=subject_id, action="subject.update"
    )
    if "caseload_team" in data.model_fields_set:
        _check_caseload_write(principal, data.caseload_team)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(subject, key, value)
    audit.record(
        session,
        principal=principal,
        action="subject.update",
        record_type="subject",
        record_id=subject.id,
        subject_id=subject.id,
    )
    return subject


def list_subjects(
    session: Session,
    *,
    principal: Principal,
    reference: str | None = None,
    nationality: str | None = None,
    caseload_team: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Subject]:
    require(principal, "subjects:read")
    query = select(Subject)
    scope = caseload_filter(principal, Subject.caseload_team)
    if scope is not None:
        query = query.where(scope)
    if reference:
        query = query.where(Subject.home_office_reference == reference)
    if nationality:
        query = query.where(Subject.nationality == nationality.upper())
    if caseload_team:
        query = query.where(Subject.caseload_team == caseload_team)
    page = paginate(session, query, Subject.id, cursor=cursor, limit=limit)
    audit.record(session, principal=principal, action="subject.list", record_type="subject")
    return page


def missing_for_cohort(data: OrderCreate) -> list[str]:
    """What the scheme requires before an order may exist: a conviction and a status."""
    conviction = data.conviction
    missing = []
    if conviction is None or conviction.offence is None:
        missing.append("conviction.offence")
    if conviction is None or conviction.court is None:
        missing.append("conviction.court")
    if conviction is None or conviction.conviction_date is None:
        missing.append("conviction.conviction_date")
    if data.immigration_status is None:
        missing.append("immigration_status")
    return missing


def _check_checkins(device_kind: str, checkins_per_day: int) -> None:
    if device_kind == DeviceKind.fitted_tag and checkins_per_day != 0:
        raise Invalid("fitted tags take no face check-ins: use 0", field="checkins_per_day")
    if device_kind == DeviceKind.smartwatch and not 1 <= checkins_per_day <= MAX_CHECKINS_PER_DAY:
        raise Invalid("smartwatch orders take 1 to 5 check-ins a day", field="checkins_per_day")


def _check_waking_window(start: time | None, end: time | None) -> None:
    if (start is None) != (end is None):
        raise Invalid("give both ends of the waking window or neither", field="waking_window_end")
    if start is not None and end is not None and end <= start:
        raise Invalid("waking window must end after it starts", field="waking_window_end")


def _check_curfew(start: time | None, end: time | None) -> None:
    if (start is None) != (end is None):
        raise Invalid("give both ends of the curfew or neither", field="curfew_end")
    if start is not None and start == end:
        raise Invalid("a curfew cannot start and end at the same time", field="curfew_end")


def create_order(
    session: Session, *, principal: Principal, data: OrderCreate, today: date | None = None
) -> Order:
    require(principal, "orders:write")
    missing = missing_for_cohort(data)
    if missing:
        raise Invalid(
            "an order needs a recorded criminal conviction and an immigration-control status; "
            "missing: " + ", ".join(missing),
            field=missing[0],
        )
    assert data.conviction is not None and data.immigration_status is not None
    assert data.conviction.conviction_date is not None
    today = today or date.today()
    if data.conviction.conviction_date > today:
        raise Invalid("conviction date is in the future", field="conviction.conviction_date")
    if data.ends_at <= data.starts_at:
        raise Invalid("order must end after it starts", field="ends_at")
    _check_checkins(data.device_kind, data.checkins_per_day)
    window_start, window_end = data.waking_window_start, data.waking_window_end
    if data.device_kind == DeviceKind.smartwatch and window_start is None and window_end is None:
        window_start, window_end = DEFAULT_WAKING_WINDOW
    _check_waking_window(window_start, window_end)
    _check_curfew(data.curfew_start, data.curfew_end)
    subject = session.get(Subject, data.subject_id)
    if subject is None or not may_read_subject(principal, caseload_team=subject.caseload_team):
        if subject is not None:
            audit.refuse(
                session,
                principal=principal,
                action="order.create",
                record_type="subject",
                record_id=subject.id,
                subject_id=subject.id,
            )
        raise Invalid("no such subject", field="subject_id")
    require_assessments(
        session, cohort=cohort_of(data.immigration_status, data.device_kind), today=today
    )
    order = Order(
        subject_id=data.subject_id,
        legal_basis_reference=data.legal_basis_reference,
        offence=data.conviction.offence,
        court=data.conviction.court,
        conviction_date=data.conviction.conviction_date,
        immigration_status=data.immigration_status,
        device_kind=data.device_kind,
        monitoring_mode=data.monitoring_mode,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        checkins_per_day=data.checkins_per_day,
        waking_window_start=window_start,
        waking_window_end=window_end,
        next_review_on=data.next_review_on or (data.starts_at.date() + DEFAULT_REVIEW_PERIOD),
        status=OrderStatus.active,
        curfew_start=data.curfew_start,
        curfew_end=data.curfew_end,
    )
    session.add(order)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="order.create",
        record_type="order",
        record_id=order.id,
        subject_id=order.subject_id,
    )
    return order


def _scoped_order(
    session: Session, *, principal: Principal, order_id: uuid.UUID, action: str
) -> Order:
    order = session.get(Order, order_id)
    subject = session.get(Subject, order.subject_id) if order else None
    if (
        order is None
        or subject is None
        or not may_read_subject(principal, caseload_team=subject.caseload_team)
    ):
        audit.refuse(
            session,
            principal=principal,
            action=action,
            record_type="order",
            record_id=order_id,
            subject_id=order.subject_id if order else None,
        )
        raise NotFound("no such order")
    return order


def get_order(session: Session, *, principal: Principal, order_id: uuid.UUID) -> Order:
    require(principal, "orders:read")
    order = _scoped_order(session, principal=principal, order_id=order_id, action="order.read")
    audit.record(
        session,
        principal=principal,
        action="order.read",
        record_type="order",
        record_id=order.id,
        subject_id=order.subject_id,
    )
    return order


def update_order(
    session: Session, *, principal: Principal, order_id: uuid.UUID, data: OrderUpdate
) -> Order:
    require(principal, "orders:write")
    order = _scoped_order(session, principal=principal, order_id=order_id, action="order.update")
    changes = data.model_dump(exclude_unset=True)
    ends_at: datetime = changes.get("ends_at", order.ends_at)
    if ends_at <= order.starts_at:
        raise Invalid("order must end after it starts", field="ends_at")
    _check_checkins(order.device_kind, changes.get("checkins_per_day", order.checkins_per_day))
    _check_waking_window(
        changes.get("waking_window_start", order.waking_window_start),
        changes.get("waking_window_end", order.waking_window_end),
    )
    _check_curfew(
        changes.get("curfew_start", order.curfew_start),
        changes.get("curfew_end", order.curfew_end),
    )
    for key, value in changes.items():
        setattr(order, key, value)
    audit.record(
        session,
        principal=principal,
        action="order.update",
        record_type="order",
        record_id=order.id,
        subject_id=order.subject_id,
    )
    return order


def list_orders(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID | None = None,
    status: str | None = None,
    device_kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Order]:
    require(principal, "orders:read")
    query = select(Order)
    scope = caseload_filter(principal, Subject.caseload_team)
    if scope is not None:
        query = query.join(Subject, Subject.id == Order.subject_id).where(scope)
    if subject_id:
        query = query.where(Order.subject_id == subject_id)
    if status:
        query = query.where(Order.status == status)
    if device_kind:
        query = query.where(Order.device_kind == device_kind)
    page = paginate(session, query, Order.id, cursor=cursor, limit=limit)
    audit.record(session, principal=principal, action="order.list", record_type="order")
    return page

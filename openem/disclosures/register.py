"""Disclosure under a grant, and the disclosure register.

The officer reads what a grant covers (:func:`disclose_subject`, :func:`disclose_presence`),
each read written to the register with the grant's legal basis. Grants expire by
themselves: every use checks ``now`` against ``expires_at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import Principal
from openem.disclosures.models import DisclosedClass, Disclosure, Grant, PoliceRequest
from openem.disclosures.positions import DEFAULT_SOURCE, Fix, PositionSource
from openem.errors import Forbidden, Invalid, NotFound
from openem.pagination import Page, paginate
from openem.subjects.models import Order, Subject


class GrantRefused(Forbidden):
    pass


def _usable_grant(
    session: Session,
    principal: Principal,
    grant_id: uuid.UUID,
    data_class: DisclosedClass,
    now: datetime,
) -> tuple[Grant, PoliceRequest]:
    """The grant, if it is the caller's, live, and covers ``data_class``; refusals audited."""
    require(principal, "grants:use")
    grant = session.get(Grant, grant_id)
    reason: str | None = None
    if grant is None or grant.grantee_id != principal.user_id:
        reason = "no such grant"
    elif grant.revoked_at is not None:
        reason = "the grant was revoked"
    elif grant.expires_at <= now:
        reason = "the grant has expired"
    elif data_class not in grant.data_classes.split():
        reason = f"the grant does not cover {data_class}"
    if reason is not None:
        audit.refuse(
            session,
            principal=principal,
            action=f"grant.use.{data_class}",
            record_type="grant",
            record_id=grant_id,
            subject_id=grant.subject_id if grant else None,
        )
        if grant is None or grant.grantee_id != principal.user_id:
            raise NotFound(reason)
        raise GrantRefused(reason)
    assert grant is not None
    request = session.get(PoliceRequest, grant.request_id)
    assert request is not None
    return grant, request


def _register(
    session: Session,
    *,
    principal: Principal,
    grant: Grant,
    request: PoliceRequest,
    subject_id: uuid.UUID | None,
    data_class: DisclosedClass,
    record_count: int,
    now: datetime,
) -> Disclosure:
    assert principal.user_id is not None and principal.organisation_id is not None
    entry = Disclosure(
        grant_id=grant.id,
        request_id=request.id,
        subject_id=subject_id,
        data_class=data_class,
        record_count=record_count,
        recipient_id=principal.user_id,
        recipient_organisation_id=principal.organisation_id,
        approver_id=grant.approver_id,
        legal_basis=request.legal_basis,
        crime_reference=request.crime_reference,
        window_start=grant.window_start,
        window_end=grant.window_end,
        disclosed_at=now,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action=f"disclosure.{data_class}",
        record_type="disclosure",
        record_id=entry.id,
        subject_id=subject_id,
        purpose="police_grant",
        purpose_detail=f"grant {grant.id}",
        at=now,
    )
    return entry


def disclose_subject(
    session: Session,
    *,
    principal: Principal,
    grant_id: uuid.UUID,
    data_class: DisclosedClass,
    now: datetime,
    positions: PositionSource = DEFAULT_SOURCE,
) -> tuple[Disclosure, Subject, list[Order] | None, list[Fix] | None]:
    """Disclose one class of data about the granted subject, within the granted window."""
    if data_class == DisclosedClass.presence:
        raise Invalid("presence is disclosed by the location inquiry", field="data_class")
    grant, request = _usable_grant(session, principal, grant_id, data_class, now)
    subject = session.get(Subject, grant.subject_id) if grant.subject_id else None
    if subject is None:
        raise NotFound("the subject of this grant no longer exists")
    orders: list[Order] | None = None
    trail: list[Fix] | None = None
    count = 1
    if data_class == DisclosedClass.orders:
        orders = list(
            session.scalars(
                select(Order).where(
                    Order.subject_id == subject.id,
                    Order.starts_at <= grant.window_end,
                    Order.ends_at >= grant.window_start,
                )
            )
        )
        count = len(orders)
    elif data_class == DisclosedClass.location_history:
        trail = positions.trail(
            session, subject_id=subject.id, start=grant.window_start, end=grant.window_end
        )
        count = len(trail)
    entry = _register(
        session,
        principal=principal,
        grant=grant,
        request=request,
        subject_id=subject.id,
        data_class=data_class,
        record_count=count,
        now=now,
    )
    return entry, subject, orders, trail


def disclose_presence(
    session: Session,
    *,
    principal: Principal,
    grant_id: uuid.UUID,
    now: datetime,
    positions: PositionSource = DEFAULT_SOURCE,
) -> tuple[list[Disclosure], list[Subject]]:
    """Answer a granted location inquiry: who was within the radius in the window."""
    grant, request = _usable_grant(session, principal, grant_id, DisclosedClass.presence, now)
    assert request.latitude is not None and request.longitude is not None
    assert request.radius_m is not None
    subject_ids = positions.find_subjects_near(
        session,
        lat=request.latitude,
        lon=request.longitude,
        radius_m=request.radius_m,
        start=grant.window_start,
        end=grant.window_end,
    )
    subjects = [s for s in (session.get(Subject, sid) for sid in subject_ids) if s is not None]
    entries = [
        _register(
            session,
            principal=principal,
            grant=grant,
            request=request,
            subject_id=subject.id,
            data_class=DisclosedClass.presence,
            record_count=1,
            now=now,
        )
        for subject in subjects
    ]
    if not entries:  # an empty answer is a disclosure too (that nobody was there)
        entries.append(
            _register(
                session,
                principal=principal,
                grant=grant,
                request=request,
                subject_id=None,
                data_class=DisclosedClass.presence,
                record_count=0,
                now=now,
            )
        )
    return entries, subjects


def list_register(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[Disclosure]:
    require(principal, "disclosures:read")
    query = select(Disclosure)
    if subject_id:
        query = query.where(Disclosure.subject_id == subject_id)
    if since:
        query = query.where(Disclosure.disclosed_at >= since)
    page = paginate(session, query, Disclosure.id, cursor=cursor, limit=limit)
    audit.record(
        session,
        principal=principal,
        action="disclosure.register.read",
        record_type="disclosure",
        subject_id=subject_id,
    )
    return page


def disclosures_for_subject(session: Session, *, subject_id: uuid.UUID) -> list[Disclosure]:
    """Every disclosure about one subject, oldest first: for the subject-access export.

    No principal: the caller (retention's subject-access export) has already been authorised
    and audits the export itself.
    """
    return list(
        session.scalars(
            select(Disclosure)
            .where(Disclosure.subject_id == subject_id)
            .order_by(Disclosure.disclosed_at, Disclosure.id)
        )
    )

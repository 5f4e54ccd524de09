"""Police requests and their approval.

The flow: a police officer files a request (:func:`file_request`); an approver of a
Home Office or MoJ organisation grants it, time-limited and scoped to the request
(:func:`grant_request`), or refuses it with a reason (:func:`refuse_request`); the
officer then reads what the grant covers, each read written to the disclosure register
(:mod:`openem.disclosures.register`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import may_decide_disclosures, require
from openem.access.principal import Principal
from openem.disclosures.models import (
    Grant,
    PoliceRequest,
    RequestKind,
    RequestStatus,
)
from openem.disclosures.schemas import RequestCreate
from openem.errors import Conflict, Forbidden, Invalid, NotFound
from openem.pagination import Page, paginate
from openem.subjects.models import Subject


def _resolve_subject(session: Session, reference: str) -> uuid.UUID | None:
    return session.scalar(
        select(Subject.id).where(
            or_(Subject.pnc_id == reference, Subject.home_office_reference == reference)
        )
    )


def file_request(
    session: Session, *, principal: Principal, data: RequestCreate, now: datetime
) -> PoliceRequest:
    require(principal, "police_requests:create")
    if principal.organisation_kind != "police" or principal.user_id is None:
        raise Forbidden("requests are filed by officers of a police organisation")
    assert principal.organisation_id is not None
    if data.window_start > now:
        raise Invalid("the window must start in the past", field="window_start")
    request = PoliceRequest(
        kind=data.kind,
        status=RequestStatus.pending,
        requester_id=principal.user_id,
        requester_organisation_id=principal.organisation_id,
        subject_reference=data.subject_reference,
        subject_id=_resolve_subject(session, data.subject_reference)
        if data.subject_reference
        else None,
        data_classes=" ".join(sorted(set(data.data_classes))),
        window_start=data.window_start,
        window_end=data.window_end,
        latitude=data.latitude,
        longitude=data.longitude,
        radius_m=data.radius_m,
        crime_reference=data.crime_reference,
        legal_basis=data.legal_basis,
        justification=data.justification,
        created_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="police_request.file",
        record_type="police_request",
        record_id=request.id,
        subject_id=request.subject_id,
        purpose="police_request",
        purpose_detail=f"{data.crime_reference} / {data.legal_basis}",
        at=now,
    )
    return request


def _visible(principal: Principal, request: PoliceRequest) -> bool:
    if principal.is_system or may_decide_disclosures(principal):
        return True
    return principal.role == "police" and request.requester_id == principal.user_id


def get_request(session: Session, *, principal: Principal, request_id: uuid.UUID) -> PoliceRequest:
    require(principal, "police_requests:read")
    request = session.get(PoliceRequest, request_id)
    if request is None or not _visible(principal, request):
        if request is not None:
            audit.refuse(
                session,
                principal=principal,
                action="police_request.read",
                record_type="police_request",
                record_id=request_id,
            )
        raise NotFound("no such request")
    return request


def list_requests(
    session: Session,
    *,
    principal: Principal,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[PoliceRequest]:
    """Police see their own requests; approvers (Home Office, MoJ) see all."""
    require(principal, "police_requests:read")
    query = select(PoliceRequest)
    if not (principal.is_system or may_decide_disclosures(principal)):
        if principal.role != "police":
            query = query.where(PoliceRequest.id.is_(None))
        query = query.where(PoliceRequest.requester_id == principal.user_id)
    if status:
        query = query.where(PoliceRequest.status == status)
    return paginate(session, query, PoliceRequest.id, cursor=cursor, limit=limit)


def _pending_for_decision(
    session: Session, principal: Principal, request_id: uuid.UUID, action: str
) -> PoliceRequest:
    require(principal, "police_requests:decide")
    if not may_decide_disclosures(principal):
        audit.refuse(
            session,
            principal=principal,
            action=action,
            record_type="police_request",
            record_id=request_id,
        )
        raise Forbidden("only approvers of a Home Office or MoJ organisation decide requests")
    request = session.get(PoliceRequest, request_id)
    if request is None:
        raise NotFound("no such request")
    if request.status != RequestStatus.pending:
        raise Conflict("the request has already been decided")
    return request


def grant_request(
    session: Session,
    *,
    principal: Principal,
    request_id: uuid.UUID,
    valid_for: timedelta,
    conditions: str | None,
    now: datetime,
) -> Grant:
    request = _pending_for_decision(session, principal, request_id, "police_request.grant")
    if request.kind == RequestKind.subject and request.subject_id is None:
        raise Invalid("no monitored subject matches the reference: refuse the request instead")
    assert principal.user_id is not None
    grant = Grant(
        request_id=request.id,
        grantee_id=request.requester_id,
        grantee_organisation_id=request.requester_organisation_id,
        approver_id=principal.user_id,
        subject_id=request.subject_id,
        data_classes=request.data_classes,
        window_start=request.window_start,
        window_end=request.window_end,
        granted_at=now,
        expires_at=now + valid_for,
        conditions=conditions,
    )
    request.status = RequestStatus.granted
    request.decided_by, request.decided_at = principal.user_id, now
    session.add(grant)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="police_request.grant",
        record_type="grant",
        record_id=grant.id,
        subject_id=grant.subject_id,
        purpose="police_request",
        purpose_detail=request.legal_basis,
        at=now,
    )
    return grant


def refuse_request(
    session: Session, *, principal: Principal, request_id: uuid.UUID, reason: str, now: datetime
) -> PoliceRequest:
    request = _pending_for_decision(session, principal, request_id, "police_request.refuse")
    request.status = RequestStatus.refused
    request.decided_by, request.decided_at = principal.user_id, now
    request.refusal_reason = reason
    audit.record(
        session,
        principal=principal,
        action="police_request.refuse",
        record_type="police_request",
        record_id=request.id,
        subject_id=request.subject_id,
        at=now,
    )
    return request


def grant_for_request(session: Session, *, request_id: uuid.UUID) -> Grant | None:
    return session.scalar(select(Grant).where(Grant.request_id == request_id))

"""Rectification and restriction requests: recorded, listed, and acted on.

Rectification is acted on by correcting the record (subjects API) and closing
the request with what was changed. A restriction stays ``open`` while it is in
force: :func:`is_restricted` is what processing code checks, and it shows in
lists and in the subject-access archive. Lifting it is recorded too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit, caseload
from openem.access.policy import require
from openem.access.principal import Principal
from openem.errors import Invalid, NotFound
from openem.retention.models import RightsRequest, RightsRequestKind, RightsRequestStatus
from openem.subjects.models import Subject

FINAL = {
    RightsRequestKind.rectification: {RightsRequestStatus.done, RightsRequestStatus.refused},
    RightsRequestKind.restriction: {RightsRequestStatus.lifted, RightsRequestStatus.refused},
}


def record_request(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    kind: RightsRequestKind,
    detail: str,
    now: datetime,
) -> RightsRequest:
    require(principal, "rights:write")
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("no such subject")
    caseload.require_own_caseload(principal, caseload_team=subject.caseload_team)
    if not detail.strip():
        raise Invalid("say what the subject asked for", field="detail")
    request = RightsRequest(
        subject_id=subject_id,
        kind=kind,
        detail=detail.strip(),
        status=RightsRequestStatus.open,
        received_at=now,
        recorded_by=principal.user_id,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action=f"rights.{kind.value}.record",
        record_type="rights_request",
        record_id=request.id,
        subject_id=subject_id,
    )
    return request


def close_request(
    session: Session,
    *,
    principal: Principal,
    request_id: uuid.UUID,
    status: RightsRequestStatus,
    outcome: str,
    now: datetime,
) -> RightsRequest:
    require(principal, "rights:write")
    request = session.get(RightsRequest, request_id)
    if request is None:
        raise NotFound("no such request")
    subject = session.get_one(Subject, request.subject_id)
    caseload.require_own_caseload(principal, caseload_team=subject.caseload_team)
    if request.status != RightsRequestStatus.open:
        raise Invalid("the request is already closed", field="status")
    if status not in FINAL[RightsRequestKind(request.kind)]:
        raise Invalid(f"a {request.kind} request cannot end as {status.value}", field="status")
    if not outcome.strip():
        raise Invalid("record what was done", field="outcome")
    request.status, request.outcome = status, outcome.strip()
    request.resolved_at, request.resolved_by = now, principal.user_id
    audit.record(
        session,
        principal=principal,
        action=f"rights.{request.kind}.{status.value}",
        record_type="rights_request",
        record_id=request.id,
        subject_id=request.subject_id,
    )
    return request


def open_restriction(session: Session, *, subject_id: uuid.UUID) -> RightsRequest | None:
    """The earliest restriction request in force for the subject, if any."""
    query = (
        select(RightsRequest)
        .where(
            RightsRequest.subject_id == subject_id,
            RightsRequest.kind == RightsRequestKind.restriction,
            RightsRequest.status == RightsRequestStatus.open,
        )
        .order_by(RightsRequest.received_at)
    )
    return session.scalars(query.limit(1)).first()


def is_restricted(session: Session, *, subject_id: uuid.UUID) -> bool:
    return open_restriction(session, subject_id=subject_id) is not None


def list_requests(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID | None = None,
    open_only: bool = True,
) -> Sequence[RightsRequest]:
    require(principal, "rights:read")
    query = (
        select(RightsRequest)
        .join(Subject, Subject.id == RightsRequest.subject_id)
        .where(caseload.own_caseload_filter(principal, Subject.caseload_team))
        .order_by(RightsRequest.received_at)
    )
    if subject_id is not None:
        query = query.where(RightsRequest.subject_id == subject_id)
    if open_only:
        query = query.where(RightsRequest.status == RightsRequestStatus.open)
    audit.record(
        session,
        principal=principal,
        action="rights.list",
        record_type="rights_request",
        subject_id=subject_id,
    )
    return session.scalars(query).all()

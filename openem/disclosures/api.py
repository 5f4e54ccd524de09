"""Staff API: police requests, decisions, disclosure under a grant, the register."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.disclosures import register, service
from openem.disclosures.models import (
    DisclosedClass,
    Disclosure,
    Grant,
    PoliceRequest,
    RequestStatus,
)
from openem.disclosures.schemas import (
    DisclosedFix,
    DisclosedOrder,
    DisclosedProfile,
    DisclosureOut,
    GrantCreate,
    GrantOut,
    PresenceOut,
    RefusalCreate,
    RequestCreate,
    RequestOut,
    SubjectDisclosureOut,
)
from openem.http.deps import DbSession, requires
from openem.http.schemas import PageOut
from openem.pagination import Page
from openem.subjects.models import Subject

router = APIRouter(prefix="/api/v1", tags=["disclosures"])

FileRequests = Annotated[Principal, Depends(requires("police_requests:create"))]
ReadRequests = Annotated[Principal, Depends(requires("police_requests:read"))]
DecideRequests = Annotated[Principal, Depends(requires("police_requests:decide"))]
UseGrants = Annotated[Principal, Depends(requires("grants:use"))]
ReadRegister = Annotated[Principal, Depends(requires("disclosures:read"))]
Limit = Annotated[int, Query(ge=1, le=500)]


def _request_out(session: DbSession, request: PoliceRequest) -> RequestOut:
    out = RequestOut.model_validate(request)
    grant = service.grant_for_request(session, request_id=request.id)
    return out.model_copy(update={"grant_id": grant.id if grant else None})


def _profile(subject: Subject) -> DisclosedProfile:
    return DisclosedProfile(
        subject_id=subject.id,
        given_name=subject.given_name,
        family_name=subject.family_name,
        date_of_birth=subject.date_of_birth,
        nationality=subject.nationality,
        pnc_id=subject.pnc_id,
    )


@router.post("/police-requests", status_code=201, response_model=RequestOut)
def file_request(data: RequestCreate, session: DbSession, principal: FileRequests) -> RequestOut:
    request = service.file_request(session, principal=principal, data=data, now=utcnow())
    return _request_out(session, request)


@router.get("/police-requests", response_model=PageOut[RequestOut])
def list_requests(
    session: DbSession,
    principal: ReadRequests,
    status: RequestStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> PageOut[RequestOut]:
    page = service.list_requests(
        session, principal=principal, status=status, cursor=cursor, limit=limit
    )
    return PageOut[RequestOut](
        items=[_request_out(session, r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/police-requests/{request_id}", response_model=RequestOut)
def get_request(request_id: uuid.UUID, session: DbSession, principal: ReadRequests) -> RequestOut:
    return _request_out(
        session, service.get_request(session, principal=principal, request_id=request_id)
    )


@router.post("/police-requests/{request_id}/grant", status_code=201, response_model=GrantOut)
def grant_request(
    request_id: uuid.UUID, data: GrantCreate, session: DbSession, principal: DecideRequests
) -> Grant:
    return service.grant_request(
        session,
        principal=principal,
        request_id=request_id,
        valid_for=timedelta(days=data.valid_days),
        conditions=data.conditions,
        now=utcnow(),
    )


@router.post("/police-requests/{request_id}/refusal", response_model=RequestOut)
def refuse_request(
    request_id: uuid.UUID, data: RefusalCreate, session: DbSession, principal: DecideRequests
) -> RequestOut:
    request = service.refuse_request(
        session, principal=principal, request_id=request_id, reason=data.reason, now=utcnow()
    )
    return _request_out(session, request)


@router.get("/grants/{grant_id}/subject", response_model=SubjectDisclosureOut)
def disclose_subject(
    grant_id: uuid.UUID,
    session: DbSession,
    principal: UseGrants,
    data_class: DisclosedClass = DisclosedClass.profile,
) -> SubjectDisclosureOut:
    """Data about the granted subject, one class at a time; each read is on the register."""
    entry, subject, orders, trail = register.disclose_subject(
        session, principal=principal, grant_id=grant_id, data_class=data_class, now=utcnow()
    )
    return SubjectDisclosureOut(
        grant_id=grant_id,
        data_class=data_class,
        disclosure_id=entry.id,
        profile=_profile(subject) if data_class == DisclosedClass.profile else None,
        orders=[DisclosedOrder.model_validate(o, from_attributes=True) for o in orders]
        if orders is not None
        else None,
        trail=[DisclosedFix(fixed_at=f.fixed_at, lat=f.lat, lon=f.lon) for f in trail]
        if trail is not None
        else None,
    )


@router.get("/grants/{grant_id}/presence", response_model=PresenceOut)
def disclose_presence(grant_id: uuid.UUID, session: DbSession, principal: UseGrants) -> PresenceOut:
    """The answer to a granted location inquiry; each subject named is on the register."""
    entries, subjects = register.disclose_presence(
        session, principal=principal, grant_id=grant_id, now=utcnow()
    )
    return PresenceOut(
        grant_id=grant_id,
        disclosure_ids=[e.id for e in entries],
        subjects=[_profile(s) for s in subjects],
    )


@router.get("/disclosures", response_model=PageOut[DisclosureOut])
def list_register(
    session: DbSession,
    principal: ReadRegister,
    subject_id: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[Disclosure]:
    return register.list_register(
        session,
        principal=principal,
        subject_id=subject_id,
        since=since,
        cursor=cursor,
        limit=limit,
    )

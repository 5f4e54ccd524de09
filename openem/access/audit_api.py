"""Staff API: the audit trail (search, export, verification), reports and review tasks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from openem.access import audit, breakglass, trail
from openem.access.auth_schemas import (
    AccessReportOut,
    AccessReportRow,
    AuditPageOut,
    ReviewOut,
    ReviewResolve,
    VerificationOut,
)
from openem.access.models import AuditEntry, ReviewTask
from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.http.schemas import PageOut
from openem.pagination import Page

router = APIRouter(prefix="/api/v1", tags=["audit"])

ReadAudit = Annotated[Principal, Depends(requires("audit:read"))]
ReadReports = Annotated[Principal, Depends(requires("reports:read"))]
ReadReviews = Annotated[Principal, Depends(requires("reviews:read"))]
WriteReviews = Annotated[Principal, Depends(requires("reviews:write"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")]


def _query(
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    outcome: audit.Outcome | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> audit.AuditQuery:
    return audit.AuditQuery(
        actor_id=actor_id,
        subject_id=subject_id,
        since=since,
        until=until,
        outcome=outcome,
        action=action,
    )


Filters = Annotated[audit.AuditQuery, Depends(_query)]


@router.get("/audit", response_model=AuditPageOut)
def search_audit(
    session: DbSession,
    principal: ReadAudit,
    query: Filters,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[AuditEntry]:
    return trail.search(session, principal=principal, query=query, cursor=cursor, limit=limit)


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export_audit(
    session: DbSession,
    principal: ReadAudit,
    query: Filters,
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse:
    chunks = trail.export(session, principal=principal, query=query, fmt=format)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    name = f"openem-audit.{'csv' if format == 'csv' else 'jsonl'}"
    return StreamingResponse(
        chunks, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/audit/verification", response_model=VerificationOut)
def verify_audit(session: DbSession, principal: ReadAudit) -> VerificationOut:
    result = trail.verify(session, principal=principal)
    return VerificationOut(
        ok=result.ok,
        checked=result.checked,
        head_hash=result.head_hash,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
    )


@router.get("/reports/access", response_model=AccessReportOut)
def access_report(
    session: DbSession,
    principal: ReadReports,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> AccessReportOut:
    rows = trail.access_report(session, principal=principal, since=since, until=until)
    return AccessReportOut(
        since=since,
        until=until,
        rows=[AccessReportRow(action=a, outcome=o, role=r, count=c) for a, o, r, c in rows],
    )


@router.get("/reviews", response_model=PageOut[ReviewOut])
def list_reviews(
    session: DbSession,
    principal: ReadReviews,
    status: breakglass.ReviewStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[ReviewTask]:
    return breakglass.list_reviews(
        session, principal=principal, status=status, cursor=cursor, limit=limit
    )


@router.post("/reviews/{task_id}/resolution", response_model=ReviewOut)
def resolve_review(
    task_id: uuid.UUID, data: ReviewResolve, session: DbSession, principal: WriteReviews
) -> ReviewTask:
    return breakglass.resolve_review(
        session,
        principal=principal,
        task_id=task_id,
        outcome=data.outcome,
        note=data.note,
        now=utcnow(),
    )


__all__ = ["datetime", "router"]

"""Staff API: subjects and monitoring orders."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from openem.access.principal import Principal
from openem.access.purposes import HistoryAccess
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.http.schemas import PageOut
from openem.pagination import Page
from openem.subjects import history, service
from openem.subjects.models import DeviceKind, Order, OrderStatus, Subject
from openem.subjects.schemas import (
    BreakGlassIn,
    HistoryAccessIn,
    HistoryAccessOut,
    OrderCreate,
    OrderOut,
    OrderUpdate,
    SubjectCreate,
    SubjectOut,
    SubjectUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["subjects"])

ReadSubjects = Annotated[Principal, Depends(requires("subjects:read"))]
WriteSubjects = Annotated[Principal, Depends(requires("subjects:write"))]
ReadOrders = Annotated[Principal, Depends(requires("orders:read"))]
WriteOrders = Annotated[Principal, Depends(requires("orders:write"))]
OpenHistory = Annotated[Principal, Depends(requires("history:open"))]
BreakGlass = Annotated[Principal, Depends(requires("history:break_glass"))]
Limit = Annotated[int, Query(ge=1, le=500)]


def _access_out(access: HistoryAccess, review_task_id: uuid.UUID | None = None) -> HistoryAccessOut:
    start, end = access.window or (None, None)
    return HistoryAccessOut(
        subject_id=access.subject_id,
        data_class=access.data_class,
        purpose=access.purpose,
        opened_at=access.opened_at,
        window_start=start,
        window_end=end,
        break_glass=access.break_glass,
        review_task_id=review_task_id,
    )


@router.post("/subjects", status_code=201, response_model=SubjectOut)
def create_subject(data: SubjectCreate, session: DbSession, principal: WriteSubjects) -> Subject:
    return service.create_subject(session, principal=principal, data=data)


@router.get("/subjects", response_model=PageOut[SubjectOut])
def list_subjects(
    session: DbSession,
    principal: ReadSubjects,
    reference: Annotated[str | None, Query(max_length=32)] = None,
    nationality: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
    caseload_team: Annotated[str | None, Query(max_length=64)] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[Subject]:
    return service.list_subjects(
        session,
        principal=principal,
        reference=reference,
        nationality=nationality,
        caseload_team=caseload_team,
        cursor=cursor,
        limit=limit,
    )


@router.get("/subjects/{subject_id}", response_model=SubjectOut)
def get_subject(subject_id: uuid.UUID, session: DbSession, principal: ReadSubjects) -> Subject:
    return service.get_subject(session, principal=principal, subject_id=subject_id)


@router.patch("/subjects/{subject_id}", response_model=SubjectOut)
def update_subject(
    subject_id: uuid.UUID, data: SubjectUpdate, session: DbSession, principal: WriteSubjects
) -> Subject:
    return service.update_subject(session, principal=principal, subject_id=subject_id, data=data)


@router.post("/orders", status_code=201, response_model=OrderOut)
def create_order(data: OrderCreate, session: DbSession, principal: WriteOrders) -> Order:
    return service.create_order(session, principal=principal, data=data)


@router.get("/orders", response_model=PageOut[OrderOut])
def list_orders(
    session: DbSession,
    principal: ReadOrders,
    subject_id: uuid.UUID | None = None,
    status: OrderStatus | None = None,
    device_kind: DeviceKind | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[Order]:
    return service.list_orders(
        session,
        principal=principal,
        subject_id=subject_id,
        status=status,
        device_kind=device_kind,
        cursor=cursor,
        limit=limit,
    )


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: uuid.UUID, session: DbSession, principal: ReadOrders) -> Order:
    return service.get_order(session, principal=principal, order_id=order_id)


@router.patch("/orders/{order_id}", response_model=OrderOut)
def update_order(
    order_id: uuid.UUID, data: OrderUpdate, session: DbSession, principal: WriteOrders
) -> Order:
    return service.update_order(session, principal=principal, order_id=order_id, data=data)


@router.post("/subjects/{subject_id}/history-access", response_model=HistoryAccessOut)
def open_history(
    subject_id: uuid.UUID, data: HistoryAccessIn, session: DbSession, principal: OpenHistory
) -> HistoryAccessOut:
    """State a purpose to open a subject's history (the decision is audited either way)."""
    access = history.open_history(
        session,
        principal=principal,
        subject_id=subject_id,
        data_class=data.data_class,
        purpose=data.purpose,
        detail=data.detail,
        now=utcnow(),
    )
    return _access_out(access)


@router.post("/subjects/{subject_id}/break-glass", status_code=201, response_model=HistoryAccessOut)
def break_glass(
    subject_id: uuid.UUID, data: BreakGlassIn, session: DbSession, principal: BreakGlass
) -> HistoryAccessOut:
    """Emergency access outside the normal rules: loud, audited, reviewed by a supervisor."""
    access, task = history.break_glass(
        session,
        principal=principal,
        subject_id=subject_id,
        data_class=data.data_class,
        reason=data.reason,
        now=utcnow(),
    )
    return _access_out(access, task.id)

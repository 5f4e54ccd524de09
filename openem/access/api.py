"""Staff API: organisations and users."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from openem.access import service
from openem.access.models import Organisation, OrganisationKind, Role, User
from openem.access.principal import Principal
from openem.access.schemas import (
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.http.schemas import PageOut
from openem.pagination import Page

router = APIRouter(prefix="/api/v1", tags=["access"])

ReadOrgs = Annotated[Principal, Depends(requires("organisations:read"))]
WriteOrgs = Annotated[Principal, Depends(requires("organisations:write"))]
ReadUsers = Annotated[Principal, Depends(requires("users:read"))]
WriteUsers = Annotated[Principal, Depends(requires("users:write"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/organisations", status_code=201, response_model=OrganisationOut)
def create_organisation(
    data: OrganisationCreate, session: DbSession, principal: WriteOrgs
) -> Organisation:
    return service.create_organisation(session, principal=principal, data=data)


@router.get("/organisations", response_model=PageOut[OrganisationOut])
def list_organisations(
    session: DbSession,
    principal: ReadOrgs,
    kind: OrganisationKind | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[Organisation]:
    return service.list_organisations(
        session, principal=principal, kind=kind, cursor=cursor, limit=limit
    )


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut)
def get_organisation(
    organisation_id: uuid.UUID, session: DbSession, principal: ReadOrgs
) -> Organisation:
    return service.get_organisation(session, principal=principal, organisation_id=organisation_id)


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    organisation_id: uuid.UUID, data: OrganisationUpdate, session: DbSession, principal: WriteOrgs
) -> Organisation:
    return service.update_organisation(
        session, principal=principal, organisation_id=organisation_id, data=data
    )


@router.post("/users", status_code=201, response_model=UserOut)
def create_user(data: UserCreate, session: DbSession, principal: WriteUsers) -> User:
    return service.create_user(session, principal=principal, data=data)


@router.get("/users", response_model=PageOut[UserOut])
def list_users(
    session: DbSession,
    principal: ReadUsers,
    organisation_id: uuid.UUID | None = None,
    role: Role | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[User]:
    return service.list_users(
        session,
        principal=principal,
        organisation_id=organisation_id,
        role=role,
        cursor=cursor,
        limit=limit,
    )


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: uuid.UUID, session: DbSession, principal: ReadUsers) -> User:
    return service.get_user(session, principal=principal, user_id=user_id)


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(
    user_id: uuid.UUID, data: UserUpdate, session: DbSession, principal: WriteUsers
) -> User:
    return service.update_user(session, principal=principal, user_id=user_id, data=data)


@router.post(
    "/users/{user_id}/totp/reset",
    response_model=UserOut,
    responses={409: {"description": "TOTP is not set up for this account"}},
)
def reset_user_totp(user_id: uuid.UUID, session: DbSession, principal: WriteUsers) -> User:
    """Remove the account's second factor (a lost phone): its next sign-in takes the
    password alone, and a role that needs TOTP must set it up again."""
    return service.reset_totp(session, principal=principal, user_id=user_id, now=utcnow())

"""Organisations and staff users."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit, totp
from openem.access.models import Organisation, User
from openem.access.passwords import WeakPassword, hash_password
from openem.access.policy import require
from openem.access.principal import Principal
from openem.access.schemas import OrganisationCreate, OrganisationUpdate, UserCreate, UserUpdate
from openem.errors import Conflict, Invalid, NotFound
from openem.pagination import Page, paginate


def create_organisation(
    session: Session, *, principal: Principal, data: OrganisationCreate
) -> Organisation:
    require(principal, "organisations:write")
    if session.scalar(select(Organisation.id).where(Organisation.name == data.name)):
        raise Conflict("an organisation with that name exists", field="name")
    organisation = Organisation(name=data.name, kind=data.kind)
    session.add(organisation)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="organisation.create",
        record_type="organisation",
        record_id=organisation.id,
    )
    return organisation


def get_organisation(
    session: Session, *, principal: Principal, organisation_id: uuid.UUID
) -> Organisation:
    require(principal, "organisations:read")
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("no such organisation")
    return organisation


def update_organisation(
    session: Session, *, principal: Principal, organisation_id: uuid.UUID, data: OrganisationUpdate
) -> Organisation:
    require(principal, "organisations:write")
    organisation = get_organisation(session, principal=principal, organisation_id=organisation_id)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(organisation, key, value)
    audit.record(
        session,
        principal=principal,
        action="organisation.update",
        record_type="organisation",
        record_id=organisation.id,
    )
    return organisation


def list_organisations(
    session: Session, *, principal: Principal, kind: str | None, cursor: str | None, limit: int
) -> Page[Organisation]:
    require(principal, "organisations:read")
    query = select(Organisation)
    if kind:
        query = query.where(Organisation.kind == kind)
    return paginate(session, query, Organisation.id, cursor=cursor, limit=limit)


def create_user(session: Session, *, principal: Principal, data: UserCreate) -> User:
    require(principal, "users:write")
    if session.get(Organisation, data.organisation_id) is None:
        raise Invalid("no such organisation", field="organisation_id")
    if session.scalar(select(User.id).where(User.username == data.username)):
        raise Conflict("that username is taken", field="username")
    try:
        password_hash = hash_password(data.password)
    except WeakPassword as error:
        raise Invalid(str(error), field="password") from error
    user = User(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        organisation_id=data.organisation_id,
        team=data.team,
        password_hash=password_hash,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, principal=principal, action="user.create", record_type="user", record_id=user.id
    )
    return user


def get_user(session: Session, *, principal: Principal, user_id: uuid.UUID) -> User:
    require(principal, "users:read")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def update_user(
    session: Session, *, principal: Principal, user_id: uuid.UUID, data: UserUpdate
) -> User:
    require(principal, "users:write")
    user = get_user(session, principal=principal, user_id=user_id)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(user, key, value)
    audit.record(
        session, principal=principal, action="user.update", record_type="user", record_id=user.id
    )
    return user


def reset_totp(
    session: Session, *, principal: Principal, user_id: uuid.UUID, now: datetime
) -> User:
    """Remove a staff account's second factor (a lost phone); see :func:`totp.reset`."""
    require(principal, "users:write")
    user = get_user(session, principal=principal, user_id=user_id)
    totp.reset(session, principal=principal, user=user, now=now)
    return user


def list_users(
    session: Session,
    *,
    principal: Principal,
    organisation_id: uuid.UUID | None,
    role: str | None,
    cursor: str | None,
    limit: int,
) -> Page[User]:
    require(principal, "users:read")
    query = select(User)
    if organisation_id:
        query = query.where(User.organisation_id == organisation_id)
    if role:
        query = query.where(User.role == role)
    return paginate(session, query, User.id, cursor=cursor, limit=limit)


def find_user_by_username(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))

"""Legal holds: while one is in force, nothing about the subject is purged."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import Principal
from openem.errors import Invalid, NotFound
from openem.retention.models import LegalHold
from openem.subjects.models import Subject


def _in_force(now: datetime) -> Select[uuid.UUID]:
    return select(LegalHold.subject_id).where(
        LegalHold.released_at.is_(None), LegalHold.expires_at > now
    )


def held_subjects(session: Session, *, now: datetime) -> set[uuid.UUID]:
    return set(session.scalars(_in_force(now)))


def is_held(session: Session, *, subject_id: uuid.UUID, now: datetime) -> bool:
    return session.scalar(_in_force(now).where(LegalHold.subject_id == subject_id)) is not None


def place_hold(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    reason: str,
    expires_at: datetime,
    now: datetime,
) -> LegalHold:
    require(principal, "holds:write")
    if session.get(Subject, subject_id) is None:
        raise NotFound("no such subject")
    if expires_at <= now:
        raise Invalid("a hold must expire in the future", field="expires_at")
    if not reason.strip():
        raise Invalid("a hold needs a reason", field="reason")
    hold = LegalHold(
        subject_id=subject_id,
        reason=reason.strip(),
        placed_by=principal.user_id,
        placed_by_role=principal.role,
        placed_at=now,
        expires_at=expires_at,
    )
    session.add(hold)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="hold.place",
        record_type="legal_hold",
        record_id=hold.id,
        subject_id=subject_id,
    )
    return hold


def release_hold(
    session: Session, *, principal: Principal, hold_id: uuid.UUID, now: datetime
) -> LegalHold:
    require(principal, "holds:write")
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound("no such hold")
    if hold.released_at is not None:
        raise Invalid("the hold was already released", field="hold_id")
    hold.released_at, hold.released_by = now, principal.user_id
    audit.record(
        session,
        principal=principal,
        action="hold.release",
        record_type="legal_hold",
        record_id=hold.id,
        subject_id=hold.subject_id,
    )
    return hold


def list_holds(
    session: Session, *, principal: Principal, now: datetime, in_force_only: bool = True
) -> Sequence[LegalHold]:
    """Holds for review, soonest to expire first."""
    require(principal, "holds:read")
    query = select(LegalHold).order_by(LegalHold.expires_at)
    if in_force_only:
        query = query.where(LegalHold.released_at.is_(None), LegalHold.expires_at > now)
    audit.record(session, principal=principal, action="hold.list", record_type="legal_hold")
    return session.scalars(query).all()

"""Writing to and reading the audit trail. Callers pass record ids, never personal data.

``record`` adds an entry to the current transaction; it is chained and written
when that transaction commits (see openem.access.chain) and vanishes with it on
rollback. ``refuse`` is for refusals: the refused request's transaction rolls
back, so the entry is written in a transaction of its own afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openem.access import chain
from openem.access.models import AuditEntry
from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.db.session import defer


class Outcome(StrEnum):
    allowed = "allowed"
    refused = "refused"
    break_glass = "break_glass"


def _entry(
    *,
    principal: Principal | None,
    action: str,
    record_type: str,
    record_id: uuid.UUID | str | None,
    subject_id: uuid.UUID | None,
    purpose: str | None,
    purpose_detail: str | None,
    outcome: str,
    source: str | None,
    at: datetime | None,
) -> AuditEntry:
    return AuditEntry(
        at=at or utcnow(),
        actor_id=principal.user_id if principal else None,
        actor_role=principal.role if principal else None,
        actor_organisation_id=principal.organisation_id if principal else None,
        action=action,
        record_type=record_type,
        record_id=str(record_id) if record_id is not None else None,
        subject_id=subject_id,
        purpose=purpose,
        purpose_detail=purpose_detail,
        outcome=outcome,
        source=(principal.source if principal else None) or source,
    )


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    record_type: str,
    record_id: uuid.UUID | str | None = None,
    subject_id: uuid.UUID | None = None,
    purpose: str | None = None,
    purpose_detail: str | None = None,
    outcome: str = Outcome.allowed,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry to this transaction's share of the chain (written at commit)."""
    entry = _entry(
        principal=principal,
        action=action,
        record_type=record_type,
        record_id=record_id,
        subject_id=subject_id,
        purpose=purpose,
        purpose_detail=purpose_detail,
        outcome=outcome,
        source=None,
        at=at,
    )
    chain.add_pending(session, entry)
    return entry


def refuse(
    session: Session,
    *,
    principal: Principal | None,
    action: str,
    record_type: str,
    record_id: uuid.UUID | str | None = None,
    subject_id: uuid.UUID | None = None,
    purpose: str | None = None,
    source: str | None = None,
    detail: str | None = None,
) -> None:
    """Record a refusal in its own transaction, after the refused one has rolled back.

    ``detail`` (ids and fixed wording only, never personal data) says why, when it helps.
    """
    entry = _entry(
        principal=principal,
        action=action,
        record_type=record_type,
        record_id=record_id,
        subject_id=subject_id,
        purpose=purpose,
        purpose_detail=detail,
        outcome=Outcome.refused,
        source=source,
        at=None,
    )
    defer(session, lambda own: chain.add_pending(own, entry))


@dataclass(frozen=True)
class AuditQuery:
    actor_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    action: str | None = None


def search_query(query: AuditQuery) -> Select[AuditEntry]:
    statement = select(AuditEntry)
    if query.actor_id:
        statement = statement.where(AuditEntry.actor_id == query.actor_id)
    if query.subject_id:
        statement = statement.where(AuditEntry.subject_id == query.subject_id)
    if query.since:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until:
        statement = statement.where(AuditEntry.at < query.until)
    if query.outcome:
        statement = statement.where(AuditEntry.outcome == query.outcome)
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    return statement

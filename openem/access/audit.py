"""Writing to the audit trail. Callers pass record ids, never personal data."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from openem.access.models import AuditEntry
from openem.access.principal import Principal
from openem.db.base import utcnow


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
    outcome: str = "allowed",
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(),
        actor_id=principal.user_id,
        actor_role=principal.role,
        actor_organisation_id=principal.organisation_id,
        action=action,
        record_type=record_type,
        record_id=str(record_id) if record_id is not None else None,
        subject_id=subject_id,
        purpose=purpose,
        purpose_detail=purpose_detail,
        outcome=outcome,
        source=principal.source,
    )
    session.add(entry)
    return entry

"""Opening a subject's history: the entry point other domains call before reading it.

``open_history`` loads the subject and asks the policy (openem.access.purposes);
the locations, check-ins and biometrics domains call it before they return a
trail, photos or frames, and return nothing if it raises.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from openem.access import breakglass, purposes
from openem.access.models import ReviewTask
from openem.access.policy import EvidenceScope
from openem.access.principal import Principal
from openem.retention import rights
from openem.subjects.models import Subject


def open_history(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    data_class: purposes.DataClass,
    purpose: str | None,
    detail: str | None,
    now: datetime,
    evidence_scope: EvidenceScope | None = None,
) -> purposes.HistoryAccess:
    """Allowed access (audited with its purpose), or raises NotFound / HistoryRefused (403)
    / Invalid (422), each refusal audited.

    Pass ``evidence_scope`` (built by the alerts domain) to open only an alert's evidence.
    When the access has a ``window``, read nothing outside it.

    While the subject has a restriction request open (``openem.retention.rights``), only
    ``court_order`` and ``subject_access_request`` may open it: anything else is refused
    (``SubjectRestricted``, 403, naming the request) and the refusal audited.
    """
    subject = session.get(Subject, subject_id)
    request = None if subject is None else rights.open_restriction(session, subject_id=subject_id)
    restriction = (
        None
        if request is None
        else purposes.Restriction(request_id=request.id, received_at=request.received_at)
    )
    return purposes.decide_history(
        session,
        principal=principal,
        subject=subject,
        subject_id=subject_id,
        data_class=data_class,
        purpose=purpose,
        detail=detail,
        now=now,
        evidence_scope=evidence_scope,
        restriction=restriction,
    )


def break_glass(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    data_class: purposes.DataClass,
    reason: str,
    now: datetime,
) -> tuple[purposes.HistoryAccess, ReviewTask]:
    """Emergency access outside the normal rules: audited as ``break_glass``, logged, and a
    review task for a supervisor is created."""
    return breakglass.break_glass(
        session,
        principal=principal,
        subject=session.get(Subject, subject_id),
        subject_id=subject_id,
        data_class=data_class,
        reason=reason,
        now=now,
    )

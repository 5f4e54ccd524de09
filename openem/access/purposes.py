"""Purpose-bound history: opening a subject's trail, check-in photos or frames.

Other domains call ``openem.subjects.history.open_history`` (which loads the
subject and calls :func:`decide_history`) before they read history-class data,
and read only if it returns; the decision and the stated purpose are on the
audit trail either way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import EvidenceScope, HasCaseload, may_read_history, require
from openem.access.principal import Principal
from openem.errors import Forbidden, Invalid, NotFound


class Purpose(StrEnum):
    breach_notified = "breach_notified"
    intelligence = "intelligence"
    court_order = "court_order"
    welfare_concern = "welfare_concern"
    subject_access_request = "subject_access_request"


class DataClass(StrEnum):
    location_history = "location_history"
    checkin_photos = "checkin_photos"
    frames = "frames"


MAX_DETAIL = 2000


class HistoryRefused(Forbidden):
    pass


class SubjectRestricted(HistoryRefused):
    """The subject asked for processing to be restricted and the request is in force."""


# What the law keeps possible while processing is restricted (UK GDPR art. 18(2)): legal
# claims (a court order) and the subject's own rights (their access request).
KEPT_UNDER_RESTRICTION = frozenset({"court_order", "subject_access_request"})


@dataclass(frozen=True)
class Restriction:
    """An open restriction request (ids and dates only) that processing code must respect."""

    request_id: uuid.UUID
    received_at: datetime


@dataclass(frozen=True)
class HistoryAccess:
    """An allowed opening of one subject's history of one class."""

    subject_id: uuid.UUID
    data_class: DataClass
    purpose: str | None
    reason: str
    opened_at: datetime
    window: tuple[datetime, datetime] | None
    break_glass: bool = False


def _check_purpose(purpose: str | None, detail: str | None) -> None:
    if purpose is not None and purpose not in Purpose.__members__:
        raise Invalid("purpose must be one of the listed purposes", field="purpose")
    if detail is not None and len(detail) > MAX_DETAIL:
        raise Invalid(f"detail must be at most {MAX_DETAIL} characters", field="detail")


def decide_history(
    session: Session,
    *,
    principal: Principal,
    subject: HasCaseload | None,
    subject_id: uuid.UUID,
    data_class: DataClass,
    purpose: str | None,
    detail: str | None,
    now: datetime,
    evidence_scope: EvidenceScope | None = None,
    restriction: Restriction | None = None,
) -> HistoryAccess:
    """Decide, audit (with the purpose) and return the access, or raise ``HistoryRefused``.

    ``subject`` is the loaded subject (None when no such subject exists: refused as not found,
    so ids from other caseloads and unknown ids look the same). With a ``restriction`` in
    force, only the purposes in ``KEPT_UNDER_RESTRICTION`` may open history
    (``SubjectRestricted`` otherwise, audited with the request id).
    """
    require(principal, "history:open")
    _check_purpose(purpose, detail)
    if purpose is not None and not (detail and detail.strip()):
        raise Invalid("say in a few words why the history is needed", field="detail")
    action = f"history.open.{data_class}"
    if subject is None:
        audit.refuse(
            session,
            principal=principal,
            action=action,
            record_type="subject",
            record_id=subject_id,
            purpose=purpose,
        )
        raise NotFound("no such subject")
    decision = may_read_history(principal, subject, purpose, evidence_scope)
    if not decision.allowed:
        audit.refuse(
            session,
            principal=principal,
            action=action,
            record_type="subject",
            record_id=subject.id,
            subject_id=subject.id,
            purpose=purpose,
        )
        raise HistoryRefused(decision.reason)
    if restriction is not None and purpose not in KEPT_UNDER_RESTRICTION:
        _refuse_restricted(session, principal, action, subject.id, purpose, restriction)
    audit.record(
        session,
        principal=principal,
        action=action,
        record_type="subject",
        record_id=subject.id,
        subject_id=subject.id,
        purpose=purpose or ("alert_evidence" if evidence_scope else None),
        purpose_detail=detail,
        at=now,
    )
    return HistoryAccess(
        subject_id=subject.id,
        data_class=data_class,
        purpose=purpose,
        reason=decision.reason,
        opened_at=now,
        window=decision.window,
    )


def _refuse_restricted(
    session: Session,
    principal: Principal,
    action: str,
    subject_id: uuid.UUID,
    purpose: str | None,
    restriction: Restriction,
) -> None:
    audit.refuse(
        session,
        principal=principal,
        action=action,
        record_type="subject",
        record_id=subject_id,
        subject_id=subject_id,
        purpose=purpose,
        detail=f"restriction of processing: rights request {restriction.request_id}",
    )
    kept = " or ".join(sorted(KEPT_UNDER_RESTRICTION))
    raise SubjectRestricted(
        "processing of this subject's data is restricted at their request "
        f"(restriction request {restriction.request_id}, received "
        f"{restriction.received_at.date().isoformat()}): history may be opened only for "
        f"{kept}"
    )

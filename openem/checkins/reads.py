"""What staff read: a subject's decisions (scores, thresholds), and frames for a purpose."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.principal import Principal
from openem.access.purposes import DataClass
from openem.checkins.models import CheckinDecision, CheckinPrompt
from openem.crypto import store
from openem.crypto.envelope import KeyRing
from openem.errors import NotFound
from openem.subjects.history import open_history
from openem.subjects.service import scoped_subject


def decisions_for_subject(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, limit: int,
) -> list[tuple[CheckinDecision, CheckinPrompt]]:
    """Newest first; the decisions' evidence without the frames (those need a purpose)."""
    scoped_subject(session, principal=principal, subject_id=subject_id, action="checkins.read")
    query = (
        select(CheckinDecision, CheckinPrompt)
        .join(CheckinPrompt, CheckinPrompt.id == CheckinDecision.prompt_id)
        .where(CheckinDecision.subject_id == subject_id)
        .order_by(CheckinDecision.received_at.desc())
        .limit(limit)
    )
    rows = [(d, p) for d, p in session.execute(query)]
    audit.record(session, principal=principal, action="checkins.read",
                 record_type="checkin_decisions", subject_id=subject_id)
    return rows


def enrolment_photo(
    session: Session, *, principal: Principal, subject_id: uuid.UUID, index: int,
    purpose: str | None, detail: str | None, now: datetime, keyring: KeyRing, data_dir: Path,
) -> bytes:
    """One photo of the subject's active enrolment, after ``open_history`` (photos) allowed
    and audited the purpose."""
    from openem.checkins.enrolment import active_enrolment

    open_history(session, principal=principal, subject_id=subject_id,
                 data_class=DataClass.checkin_photos, purpose=purpose, detail=detail, now=now)
    enrolment = active_enrolment(session, subject_id=subject_id)
    if enrolment is None or not 0 <= index < len(enrolment.photo_blob_ids):
        raise NotFound("no such enrolment photo")
    record = session.get(store.BlobRecord, uuid.UUID(enrolment.photo_blob_ids[index]))
    if record is None:
        raise NotFound("the photo was deleted")
    return store.read(record, keyring=keyring, data_dir=data_dir)


def frame(
    session: Session, *, principal: Principal, decision_id: uuid.UUID, index: int,
    purpose: str | None, detail: str | None, now: datetime, keyring: KeyRing, data_dir: Path,
) -> bytes:
    """One frame of a decision, after ``open_history`` allowed (and audited) the purpose."""
    decision = session.get(CheckinDecision, decision_id)
    if decision is None:
        raise NotFound("no such check-in decision")
    access = open_history(session, principal=principal, subject_id=decision.subject_id,
                          data_class=DataClass.frames, purpose=purpose, detail=detail, now=now)
    window = access.window
    if window is not None and not window[0] <= decision.captured_at <= window[1]:
        raise NotFound("no such check-in decision")
    if not 0 <= index < len(decision.frame_blob_ids):
        raise NotFound("no such frame")
    record = session.get(store.BlobRecord, uuid.UUID(decision.frame_blob_ids[index]))
    if record is None:
        raise NotFound("the frame was deleted")
    return store.read(record, keyring=keyring, data_dir=data_dir)

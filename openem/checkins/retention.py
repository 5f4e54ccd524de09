"""Retention hooks of the check-in domain: purgers and the subject-access export section.

Registered on import (``openem.retention.purge`` and ``openem.retention.sar`` import this
module). Frames, photos and templates are blobs: the built-in blob purgers crypto-shred
them (``enrolment_media``, ``checkin_frames``); these purgers delete the rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.checkins.models import (
    CheckinDecision,
    CheckinPlan,
    CheckinPrompt,
    CheckinSeed,
    FaceEnrolment,
)
from openem.retention.purgers import _delete_in_batches
from openem.retention.registry import (
    ExportScope,
    ExportSection,
    PurgeScope,
    register_exporter,
    register_purger,
)


def _purge(session: Session, scope: PurgeScope, model: Any, key: Any, label: str) -> list[str]:
    query = select(key).where(model.subject_id.in_(scope.subject_ids))
    return _delete_in_batches(session, model, key, query, scope.batch_size, label)


def purge_enrolments(session: Session, scope: PurgeScope) -> list[str]:
    return _purge(session, scope, FaceEnrolment, FaceEnrolment.id, "face_enrolments")


def purge_checkins(session: Session, scope: PurgeScope) -> list[str]:
    """Decisions, then prompts, plans and seeds (children before parents)."""
    deleted = _purge(session, scope, CheckinDecision, CheckinDecision.id, "checkin_decisions")
    deleted += _purge(session, scope, CheckinPrompt, CheckinPrompt.id, "checkin_prompts")
    deleted += _purge(session, scope, CheckinPlan, CheckinPlan.id, "checkin_plans")
    return deleted + _purge(session, scope, CheckinSeed, CheckinSeed.order_id, "checkin_seeds")


def export_checkins(session: Session, scope: ExportScope) -> ExportSection:
    """The subject's prompts and decisions with their scores (frames are in ``photos``)."""
    from openem.retention.exporters import row

    prompts = session.scalars(
        select(CheckinPrompt).where(CheckinPrompt.subject_id == scope.subject_id)
        .order_by(CheckinPrompt.scheduled_at)
    )
    decisions = session.scalars(
        select(CheckinDecision).where(CheckinDecision.subject_id == scope.subject_id)
        .order_by(CheckinDecision.received_at)
    )
    records = [{"record": "prompt", **row(p, exclude=("subject_id",))} for p in prompts]
    records += [{"record": "decision", **row(d, exclude=("subject_id",))} for d in decisions]
    return ExportSection(records=records)


def register() -> None:
    register_purger("enrolment_media", "face_enrolments", purge_enrolments)
    register_purger("checkin_decisions", "checkins", purge_checkins)
    register_exporter("checkin_decisions", export_checkins)


register()

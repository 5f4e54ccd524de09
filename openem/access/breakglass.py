"""Break glass: emergency access to history outside the normal rules, loud and reviewed.

Allowed to case workers and supervisors with a written reason, for any subject.
Every use is audited with outcome ``break_glass``, logged as a warning (ids
only) and creates a review task a supervisor must resolve.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.models import ReviewTask
from openem.access.policy import HasCaseload, require
from openem.access.principal import Principal
from openem.access.purposes import DataClass, HistoryAccess
from openem.errors import Conflict, Invalid, NotFound
from openem.logs import get_logger
from openem.pagination import Page, paginate

log = get_logger(__name__)
MIN_REASON = 10


class ReviewStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class ReviewOutcome(StrEnum):
    justified = "justified"
    unjustified = "unjustified"


def break_glass(
    session: Session,
    *,
    principal: Principal,
    subject: HasCaseload | None,
    subject_id: uuid.UUID,
    data_class: DataClass,
    reason: str,
    now: datetime,
) -> tuple[HistoryAccess, ReviewTask]:
    require(principal, "history:break_glass")
    if len(reason.strip()) < MIN_REASON:
        raise Invalid(f"give a reason of at least {MIN_REASON} characters", field="reason")
    if subject is None:
        audit.refuse(
            session,
            principal=principal,
            action=f"history.break_glass.{data_class}",
            record_type="subject",
            record_id=subject_id,
        )
        raise NotFound("no such subject")
    assert principal.user_id is not None
    task = ReviewTask(
        kind="break_glass",
        subject_id=subject.id,
        actor_id=principal.user_id,
        data_class=data_class,
        reason=reason.strip(),
        status=ReviewStatus.open,
        created_at=now,
    )
    session.add(task)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action=f"history.break_glass.{data_class}",
        record_type="review_task",
        record_id=task.id,
        subject_id=subject.id,
        purpose="break_glass",
        purpose_detail=task.reason,
        outcome=audit.Outcome.break_glass,
        at=now,
    )
    log.warning(
        "break_glass_used",
        user_id=str(principal.user_id),
        subject_id=str(subject.id),
        review_task_id=str(task.id),
        data_class=str(data_class),
    )
    access = HistoryAccess(
        subject_id=subject.id,
        data_class=data_class,
        purpose="break_glass",
        reason="break glass",
        opened_at=now,
        window=None,
        break_glass=True,
    )
    return access, task


def list_reviews(
    session: Session,
    *,
    principal: Principal,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ReviewTask]:
    require(principal, "reviews:read")
    query = select(ReviewTask)
    if status:
        query = query.where(ReviewTask.status == status)
    return paginate(session, query, ReviewTask.id, cursor=cursor, limit=limit)


def resolve_review(
    session: Session,
    *,
    principal: Principal,
    task_id: uuid.UUID,
    outcome: ReviewOutcome,
    note: str,
    now: datetime,
) -> ReviewTask:
    require(principal, "reviews:write")
    task = session.get(ReviewTask, task_id)
    if task is None:
        raise NotFound("no such review task")
    if task.status != ReviewStatus.open:
        raise Conflict("the review task is already resolved")
    if task.actor_id == principal.user_id:
        raise Conflict("a review task is resolved by someone other than the person it reviews")
    task.status = ReviewStatus.resolved
    task.outcome = outcome
    task.note = note
    task.resolved_by = principal.user_id
    task.resolved_at = now
    audit.record(
        session,
        principal=principal,
        action="review.resolve",
        record_type="review_task",
        record_id=task.id,
        subject_id=task.subject_id,
        at=now,
    )
    return task

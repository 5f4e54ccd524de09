"""Proportionality reviews: every order is reviewed by its date; overdue ones escalate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openem.access import audit, caseload
from openem.access.models import Role
from openem.access.policy import require
from openem.access.principal import SYSTEM, Principal
from openem.bus.outbox import enqueue
from openem.errors import Forbidden, Invalid, NotFound
from openem.subjects.models import (
    MonitoringMode,
    Order,
    OrderReview,
    OrderStatus,
    ReviewDecision,
    ReviewEscalation,
    Subject,
)

DEFAULT_REVIEW_PERIOD = timedelta(days=91)
REVIEWER_ROLES = frozenset({Role.supervisor, Role.caseworker})
# Each mode keeps less than the one before it: relaxing moves right.
INTRUSION = (MonitoringMode.full_trail, MonitoringMode.curfew_only, MonitoringMode.checkin_only)
ESCALATION_SUBJECT = "openem.reviews.overdue"


def record_review(
    session: Session,
    *,
    principal: Principal,
    order_id: uuid.UUID,
    decision: ReviewDecision,
    reasons: str,
    now: datetime,
    monitoring_mode: MonitoringMode | None = None,
    checkins_per_day: int | None = None,
    next_review_on: date | None = None,
) -> OrderReview:
    """Record a review and act on it; only supervisors and case workers may decide."""
    require(principal, "proportionality:write")
    if principal.role not in REVIEWER_ROLES:
        raise Forbidden("only a supervisor or a case worker may decide a proportionality review")
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("no such order")
    subject = session.get_one(Subject, order.subject_id)
    caseload.require_own_caseload(principal, caseload_team=subject.caseload_team)
    if order.status != OrderStatus.active:
        raise Invalid("the order has ended", field="order_id")
    if not reasons.strip():
        raise Invalid("a review records its reasons", field="reasons")
    _apply(order, decision, monitoring_mode, checkins_per_day, now)
    if decision != ReviewDecision.end:
        upcoming = next_review_on or (now.date() + DEFAULT_REVIEW_PERIOD)
        if upcoming <= now.date():
            raise Invalid("the next review must be in the future", field="next_review_on")
        order.next_review_on = upcoming
    review = OrderReview(
        order_id=order.id,
        subject_id=order.subject_id,
        decision=decision,
        reasons=reasons.strip(),
        reviewer_id=principal.user_id,
        reviewer_role=principal.role,
        decided_at=now,
        monitoring_mode=order.monitoring_mode,
        checkins_per_day=order.checkins_per_day,
        next_review_on=None if decision == ReviewDecision.end else order.next_review_on,
    )
    session.add(review)
    for escalation in session.scalars(
        select(ReviewEscalation).where(
            ReviewEscalation.order_id == order.id, ReviewEscalation.resolved_at.is_(None)
        )
    ):
        escalation.resolved_at = now
    session.flush()
    audit.record(
        session,
        principal=principal,
        action=f"order.review.{decision.value}",
        record_type="order_review",
        record_id=review.id,
        subject_id=order.subject_id,
    )
    return review


def _apply(
    order: Order,
    decision: ReviewDecision,
    mode: MonitoringMode | None,
    checkins: int | None,
    now: datetime,
) -> None:
    if decision == ReviewDecision.relax_mode:
        current = INTRUSION.index(MonitoringMode(order.monitoring_mode))
        if mode is None or INTRUSION.index(mode) <= current:
            raise Invalid(
                "relaxing needs a less intrusive monitoring mode", field="monitoring_mode"
            )
        order.monitoring_mode = mode
    elif decision == ReviewDecision.fewer_checkins:
        if checkins is None or not 1 <= checkins < order.checkins_per_day:
            raise Invalid(
                "fewer check-ins needs a smaller number than now, at least one",
                field="checkins_per_day",
            )
        order.checkins_per_day = checkins
    elif decision == ReviewDecision.end:
        order.status = OrderStatus.ended
        order.ends_at = min(order.ends_at, now)


def _in_caseload(principal: Principal) -> Select[Order]:
    """Orders, a case worker's own caseload only."""
    return (
        select(Order)
        .join(Subject, Subject.id == Order.subject_id)
        .where(caseload.own_caseload_filter(principal, Subject.caseload_team))
    )


def overdue(session: Session, *, principal: Principal, today: date) -> Sequence[Order]:
    """Active, unexpired orders whose review date has passed, most overdue first."""
    require(principal, "proportionality:read")
    query = (
        _in_caseload(principal)
        .where(
            Order.status == OrderStatus.active,
            Order.next_review_on < today,
            Order.ends_at > datetime.combine(today, time.min, UTC),
        )
        .order_by(Order.next_review_on)
    )
    return session.scalars(query).all()


def upcoming(
    session: Session, *, principal: Principal, today: date, days: int = 30
) -> Sequence[Order]:
    """Active, unexpired orders whose review falls due from today to ``days`` ahead."""
    require(principal, "proportionality:read")
    query = (
        _in_caseload(principal)
        .where(
            Order.status == OrderStatus.active,
            Order.next_review_on >= today,
            Order.next_review_on <= today + timedelta(days=days),
            Order.ends_at > datetime.combine(today, time.min, UTC),
        )
        .order_by(Order.next_review_on)
    )
    return session.scalars(query).all()


def escalate_overdue(session: Session, *, now: datetime) -> list[ReviewEscalation]:
    """Raise each newly overdue review once (per missed date) to supervisors, via the bus."""
    escalated = []
    for order in overdue(session, principal=SYSTEM, today=now.date()):
        exists = session.scalar(
            select(ReviewEscalation.id).where(
                ReviewEscalation.order_id == order.id,
                ReviewEscalation.due_on == order.next_review_on,
            )
        )
        if exists:
            continue
        escalation = ReviewEscalation(
            order_id=order.id,
            subject_id=order.subject_id,
            due_on=order.next_review_on,
            escalated_at=now,
        )
        session.add(escalation)
        session.flush()
        enqueue(
            session,
            subject=ESCALATION_SUBJECT,
            msg_id=f"review-overdue:{order.id}:{order.next_review_on.isoformat()}",
            event={
                "order_id": str(order.id),
                "due_on": order.next_review_on.isoformat(),
                "escalated_at": now.isoformat(),
                "to_role": Role.supervisor.value,
            },
        )
        audit.record(
            session,
            principal=SYSTEM,
            action="order.review.escalate",
            record_type="review_escalation",
            record_id=escalation.id,
            subject_id=order.subject_id,
        )
        escalated.append(escalation)
    return escalated


def escalations(
    session: Session, *, principal: Principal, open_only: bool = True
) -> Sequence[ReviewEscalation]:
    require(principal, "proportionality:read")
    query = (
        select(ReviewEscalation)
        .join(Subject, Subject.id == ReviewEscalation.subject_id)
        .where(caseload.own_caseload_filter(principal, Subject.caseload_team))
        .order_by(ReviewEscalation.due_on)
    )
    if open_only:
        query = query.where(ReviewEscalation.resolved_at.is_(None))
    return session.scalars(query).all()

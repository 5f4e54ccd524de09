"""Staff API: proportionality reviews of orders and the impact assessments that gate them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends

from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.http.deps import DbSession, requires
from openem.subjects import assessments, reviews
from openem.subjects.models import ImpactAssessment, Order, OrderReview, ReviewEscalation
from openem.subjects.schemas import (
    AssessmentCreate,
    AssessmentOut,
    EscalationOut,
    OrderOut,
    ReviewCreate,
    ReviewOut,
)

router = APIRouter(prefix="/api/v1", tags=["proportionality"])

ReadReviews = Annotated[Principal, Depends(requires("proportionality:read"))]
WriteReviews = Annotated[Principal, Depends(requires("proportionality:write"))]
ReadAssessments = Annotated[Principal, Depends(requires("assessments:read"))]
WriteAssessments = Annotated[Principal, Depends(requires("assessments:write"))]


@router.post("/orders/{order_id}/reviews", status_code=201, response_model=ReviewOut)
def record_review(
    order_id: uuid.UUID, data: ReviewCreate, session: DbSession, principal: WriteReviews
) -> OrderReview:
    return reviews.record_review(
        session,
        principal=principal,
        order_id=order_id,
        decision=data.decision,
        reasons=data.reasons,
        now=utcnow(),
        monitoring_mode=data.monitoring_mode,
        checkins_per_day=data.checkins_per_day,
        next_review_on=data.next_review_on,
    )


@router.get("/order-reviews/overdue", response_model=list[OrderOut])
def overdue_reviews(session: DbSession, principal: ReadReviews) -> Sequence[Order]:
    return reviews.overdue(session, principal=principal, today=utcnow().date())


@router.get("/order-reviews/escalations", response_model=list[EscalationOut])
def review_escalations(
    session: DbSession, principal: ReadReviews, open_only: bool = True
) -> Sequence[ReviewEscalation]:
    return reviews.escalations(session, principal=principal, open_only=open_only)


@router.post("/assessments", status_code=201, response_model=AssessmentOut)
def record_assessment(
    data: AssessmentCreate, session: DbSession, principal: WriteAssessments
) -> ImpactAssessment:
    return assessments.record_assessment(
        session, principal=principal, now=utcnow(), **data.model_dump()
    )


@router.get("/assessments", response_model=list[AssessmentOut])
def list_assessments(
    session: DbSession, principal: ReadAssessments, cohort: str | None = None
) -> Sequence[ImpactAssessment]:
    return assessments.list_assessments(session, principal=principal, cohort=cohort)

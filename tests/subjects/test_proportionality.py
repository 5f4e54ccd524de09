"""Proportionality reviews and the impact assessments that gate orders."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openem.access.models import Role
from openem.access.policy import PermissionDenied
from openem.access.principal import SYSTEM, Principal
from openem.bus.outbox import OutboxMessage
from openem.errors import Forbidden, Invalid
from openem.subjects import assessments, reviews
from openem.subjects.models import (
    AssessmentKind,
    ImpactAssessment,
    Order,
    OrderReview,
    ReviewDecision,
)
from openem.subjects.schemas import OrderCreate
from openem.subjects.service import create_order
from tests.conftest import bearer
from tests.support import factories

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _principal(role: Role) -> Principal:
    """A member of staff; a case worker works the north caseload, as the subjects here."""
    team = "north" if role == Role.caseworker else None
    return Principal(user_id=uuid.uuid4(), role=role, organisation_id=uuid.uuid4(), team=team)


def _order(session: Session, **overrides: object) -> Order:
    subject = factories.subject(session)
    return factories.order(session, subject.id, **overrides)


def test_an_order_gets_a_review_date_three_months_ahead(session: Session) -> None:
    order = _order(session)
    assert (order.next_review_on - order.starts_at.date()).days == 91


def test_overdue_reviews_are_listed_and_escalated_once(session: Session) -> None:
    order = _order(session, next_review_on=(NOW.date() - timedelta(days=3)).isoformat())
    _order(session, next_review_on=(NOW.date() + timedelta(days=30)).isoformat())
    listed = reviews.overdue(session, principal=SYSTEM, today=NOW.date())
    assert [o.id for o in listed] == [order.id]
    first = reviews.escalate_overdue(session, now=NOW)
    again = reviews.escalate_overdue(session, now=NOW + timedelta(days=1))
    assert [e.order_id for e in first] == [order.id] and again == []
    events = session.scalars(select(OutboxMessage.subject)).all()
    assert events.count(reviews.ESCALATION_SUBJECT) == 1
    assert [e.order_id for e in reviews.escalations(session, principal=SYSTEM)] == [order.id]


def test_a_review_records_who_decided_and_resolves_the_escalation(session: Session) -> None:
    order = _order(session, next_review_on=(NOW.date() - timedelta(days=3)).isoformat())
    reviews.escalate_overdue(session, now=NOW)
    supervisor = _principal(Role.supervisor)
    review = reviews.record_review(
        session,
        principal=supervisor,
        order_id=order.id,
        decision=ReviewDecision.relax_mode,
        reasons="compliant for three months",
        monitoring_mode="curfew_only",
        now=NOW,
    )
    assert (review.reviewer_id, review.reviewer_role) == (supervisor.user_id, "supervisor")
    assert order.monitoring_mode == "curfew_only"
    assert order.next_review_on == NOW.date() + timedelta(days=91)
    assert reviews.escalations(session, principal=SYSTEM) == []
    assert reviews.overdue(session, principal=SYSTEM, today=NOW.date()) == []


def test_fewer_checkins_and_end_decisions_act_on_the_order(session: Session) -> None:
    order = _order(session)
    caseworker = _principal(Role.caseworker)
    reviews.record_review(
        session,
        principal=caseworker,
        order_id=order.id,
        decision=ReviewDecision.fewer_checkins,
        reasons="reliable check-ins",
        checkins_per_day=1,
        now=NOW,
    )
    assert order.checkins_per_day == 1
    reviews.record_review(
        session,
        principal=caseworker,
        order_id=order.id,
        decision=ReviewDecision.end,
        reasons="no longer necessary",
        now=NOW,
    )
    assert order.status == "ended" and order.ends_at <= NOW


@pytest.mark.parametrize("role", [Role.operator, Role.police, Role.auditor, Role.admin])
def test_a_review_by_a_role_not_allowed_is_refused_and_changes_nothing(
    session: Session, role: Role
) -> None:
    order = _order(session)
    with pytest.raises(Forbidden) as refused:
        reviews.record_review(
            session,
            principal=_principal(role),
            order_id=order.id,
            decision=ReviewDecision.end,
            reasons="x",
            now=NOW,
        )
    assert isinstance(refused.value, PermissionDenied)
    assert order.status == "active"
    assert session.scalar(select(func.count()).select_from(OrderReview)) == 0


def test_relaxing_to_a_more_intrusive_mode_is_refused(session: Session) -> None:
    order = _order(session, monitoring_mode="curfew_only")
    with pytest.raises(Invalid, match="less intrusive"):
        reviews.record_review(
            session,
            principal=_principal(Role.supervisor),
            order_id=order.id,
            decision=ReviewDecision.relax_mode,
            reasons="x",
            monitoring_mode="full_trail",
            now=NOW,
        )


def test_review_over_http_by_an_operator_is_a_clear_403(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    caseworker = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    order_id = client.post(
        "/api/v1/orders", json=factories.order_data(subject_id), headers=caseworker
    ).json()["id"]
    body = {"decision": "continue", "reasons": "still needed"}
    refused = client.post(
        f"/api/v1/orders/{order_id}/reviews", json=body, headers=bearer(staff_tokens["operator"])
    )
    assert refused.status_code == 403
    assert "proportionality:write" in refused.json()["detail"]
    accepted = client.post(f"/api/v1/orders/{order_id}/reviews", json=body, headers=caseworker)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["reviewer_role"] == "caseworker"


def _assessment(session: Session, kind: AssessmentKind, cohort: str, **dates: date) -> None:
    today = date.today()
    assessments.record_assessment(
        session,
        principal=SYSTEM,
        kind=kind,
        cohort=cohort,
        version=f"v{uuid.uuid4().hex[:6]}",
        summary="assessment",
        less_intrusive_options="reporting in person",
        approver="DPO",
        approved_on=dates.get("approved_on", today - timedelta(days=10)),
        valid_until=dates.get("valid_until", today + timedelta(days=100)),
        now=datetime.now(UTC),
    )


def _data(session: Session) -> OrderCreate:
    subject = factories.subject(session)
    return OrderCreate.model_validate(factories.order_data(subject.id))


def _orders(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Order)) or 0


def test_an_order_without_any_assessment_is_refused_with_a_clear_error(session: Session) -> None:
    with pytest.raises(assessments.AssessmentMissing) as refused:
        create_order(session, principal=SYSTEM, data=_data(session))
    assert "dpia, equality" in refused.value.detail
    assert "deportation_order/smartwatch" in refused.value.detail
    assert _orders(session) == 0


def test_an_expired_or_one_sided_assessment_does_not_open_the_gate(session: Session) -> None:
    cohort = "deportation_order/smartwatch"
    _assessment(session, AssessmentKind.dpia, cohort)
    _assessment(
        session,
        AssessmentKind.equality,
        cohort,
        approved_on=date.today() - timedelta(days=400),
        valid_until=date.today() - timedelta(days=1),
    )
    with pytest.raises(assessments.AssessmentMissing, match=r"\(equality\)"):
        create_order(session, principal=SYSTEM, data=_data(session))
    _assessment(session, AssessmentKind.equality, "deportation_order/fitted_tag")
    with pytest.raises(assessments.AssessmentMissing):
        create_order(session, principal=SYSTEM, data=_data(session))
    _assessment(session, AssessmentKind.equality, cohort)
    assert create_order(session, principal=SYSTEM, data=_data(session)).cohort == cohort


def test_an_assessment_must_name_the_less_intrusive_options(session: Session) -> None:
    with pytest.raises(Invalid, match="less intrusive"):
        assessments.record_assessment(
            session,
            principal=SYSTEM,
            kind=AssessmentKind.dpia,
            cohort="immigration_bail/fitted_tag",
            version="1",
            summary="s",
            less_intrusive_options="  ",
            approver="DPO",
            approved_on=date.today(),
            valid_until=date.today() + timedelta(days=1),
            now=datetime.now(UTC),
        )
    assert session.scalar(select(func.count()).select_from(ImpactAssessment)) == 0


def test_refusal_over_http_is_a_409_problem(
    client: TestClient, staff_tokens: dict[str, str], session: Session
) -> None:
    session.query(ImpactAssessment).delete()
    session.commit()
    caseworker = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    response = client.post(
        "/api/v1/orders", json=factories.order_data(subject_id), headers=caseworker
    )
    assert response.status_code == 409
    assert "impact assessment" in response.json()["detail"]

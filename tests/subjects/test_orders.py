"""Monitoring orders: the cohort rule and the shape of an order."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openem.access.models import AuditEntry
from openem.access.principal import SYSTEM
from openem.errors import Invalid
from openem.subjects import service
from openem.subjects.models import Order
from openem.subjects.schemas import OrderCreate
from tests.conftest import bearer
from tests.support import factories


def _count_orders(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Order)) or 0


def test_order_for_subject_without_conviction_is_refused_naming_what_is_missing(
    session: Session,
) -> None:
    subject = factories.subject(session)
    data = OrderCreate.model_validate(factories.order_data(subject.id, conviction=None))
    with pytest.raises(Invalid) as refused:
        service.create_order(session, principal=SYSTEM, data=data)
    assert "criminal conviction" in refused.value.detail
    assert "conviction.offence" in refused.value.detail
    assert "conviction.conviction_date" in refused.value.detail
    assert _count_orders(session) == 0


def test_order_without_immigration_status_is_refused(session: Session) -> None:
    subject = factories.subject(session)
    data = OrderCreate.model_validate(factories.order_data(subject.id, immigration_status=None))
    with pytest.raises(Invalid, match="missing: immigration_status"):
        service.create_order(session, principal=SYSTEM, data=data)


def test_order_for_convicted_subject_under_immigration_control_is_created(
    session: Session,
) -> None:
    subject = factories.subject(session)
    order = factories.order(session, subject.id)
    assert order.status == "active"
    assert order.checkins_per_day == 3
    assert (order.next_review_on - order.starts_at.date()).days == 91
    session.commit()  # audit entries join the chain when the transaction commits
    actions = session.scalars(select(AuditEntry.action)).all()
    assert "order.create" in actions


def test_cohort_refusal_over_http_is_a_problem_naming_the_fields(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    headers = bearer(staff_tokens["caseworker"])
    subject = client.post("/api/v1/subjects", json=factories.subject_data(), headers=headers)
    assert subject.status_code == 201
    body = factories.order_data(subject.json()["id"], conviction={"offence": "theft"})
    response = client.post("/api/v1/orders", json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "conviction.court" in response.json()["detail"]
    listed = client.get("/api/v1/orders", headers=headers).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"device_kind": "fitted_tag", "checkins_per_day": 2}, "checkins_per_day"),
        ({"device_kind": "smartwatch", "checkins_per_day": 0}, "checkins_per_day"),
        ({"checkins_per_day": 6}, "checkins_per_day"),
        ({"ends_at": "2020-01-01T00:00:00+00:00"}, "ends_at"),
        ({"waking_window_start": "20:00", "waking_window_end": "08:00"}, "waking_window_end"),
        ({"starts_at": "2026-01-01T00:00:00"}, "starts_at"),
    ],
)
def test_impossible_orders_are_refused_naming_the_field(
    client: TestClient, staff_tokens: dict[str, str], overrides: dict[str, object], field: str
) -> None:
    headers = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=headers
    ).json()["id"]
    response = client.post(
        "/api/v1/orders", json=factories.order_data(subject_id, **overrides), headers=headers
    )
    assert response.status_code == 422
    assert field in {error["field"] for error in response.json()["errors"]}
    assert client.get("/api/v1/orders", headers=headers).json()["items"] == []


def test_smartwatch_order_gets_a_default_waking_window(session: Session) -> None:
    subject = factories.subject(session)
    order = factories.order(session, subject.id)
    assert order.waking_window_start is not None
    assert order.waking_window_end is not None
    assert order.waking_window_start < order.waking_window_end


def test_fitted_tag_order_takes_no_checkins(session: Session) -> None:
    subject = factories.subject(session)
    order = factories.order(session, subject.id, device_kind="fitted_tag", checkins_per_day=0)
    assert order.checkins_per_day == 0
    assert order.waking_window_start is None


def test_order_update_cannot_end_before_start(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    headers = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=headers
    ).json()["id"]
    order = client.post("/api/v1/orders", json=factories.order_data(subject_id), headers=headers)
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    response = client.patch(
        f"/api/v1/orders/{order_id}", json={"ends_at": "2000-01-01T00:00:00+00:00"}, headers=headers
    )
    assert response.status_code == 422
    again = client.get(f"/api/v1/orders/{order_id}", headers=headers).json()
    assert again["ends_at"] == order.json()["ends_at"]

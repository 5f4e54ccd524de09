"""Case workers act only on their own caseload: reviews, rights requests and privacy notices,
as already for subjects, zones, alerts and trails. Supervisors and auditors act on all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openem.access.caseload import NotOnCaseload
from openem.access.models import Role
from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.retention import notices, rights
from openem.retention.models import RightsRequestKind, RightsRequestStatus
from openem.retention.schedules import build_schedules
from openem.subjects import reviews
from openem.subjects.models import Order, ReviewDecision
from tests.support import factories

TODAY = date.today()


@dataclass
class North:
    subject_id: uuid.UUID
    order_id: uuid.UUID
    own: Principal  # a case worker of the north team
    other: Principal  # a case worker of the south team
    supervisor: Principal
    auditor: Principal


@pytest.fixture
def north(sessions: sessionmaker[Session]) -> North:
    with sessions() as session, session.begin():
        subject = factories.subject(session, caseload_team="north")
        order = factories.order(session, subject.id)
        order.next_review_on = TODAY - timedelta(days=3)
        people = {
            name: factories.principal_for(factories.user(session, role, team=team))
            for name, role, team in (
                ("own", Role.caseworker, "north"), ("other", Role.caseworker, "south"),
                ("supervisor", Role.supervisor, None), ("auditor", Role.auditor, None),
            )
        }
        return North(subject.id, order.id, **people)


def test_a_case_worker_decides_reviews_of_their_own_caseload_only(
    sessions: sessionmaker[Session], north: North
) -> None:
    with sessions() as session, pytest.raises(NotOnCaseload):
        reviews.record_review(session, principal=north.other, order_id=north.order_id,
                              decision=ReviewDecision.end, reasons="not mine", now=utcnow())
    with sessions() as session, session.begin():
        reviews.record_review(session, principal=north.own, order_id=north.order_id,
                              decision=ReviewDecision.continue_, reasons="still needed",
                              now=utcnow())
        assert session.get_one(Order, north.order_id).status == "active"


def test_review_lists_show_a_case_worker_their_own_caseload_only(
    sessions: sessionmaker[Session], north: North
) -> None:
    with sessions() as session:
        for principal, expected in ((north.own, [north.order_id]), (north.other, []),
                                    (north.supervisor, [north.order_id])):
            due = reviews.overdue(session, principal=principal, today=TODAY)
            assert [order.id for order in due] == expected
            assert reviews.upcoming(session, principal=principal, today=TODAY) == []


def test_rights_requests_are_recorded_and_listed_within_the_caseload(
    sessions: sessionmaker[Session], north: North
) -> None:
    with sessions() as session, pytest.raises(NotOnCaseload):
        rights.record_request(session, principal=north.other, subject_id=north.subject_id,
                              kind=RightsRequestKind.restriction, detail="x", now=utcnow())
    with sessions() as session, session.begin():
        request = rights.record_request(
            session, principal=north.own, subject_id=north.subject_id,
            kind=RightsRequestKind.rectification, detail="wrong date of birth", now=utcnow(),
        )
        request_id = request.id
    with sessions() as session, session.begin():
        assert rights.list_requests(session, principal=north.other) == []
        assert [r.id for r in rights.list_requests(session, principal=north.auditor)] == [
            request_id
        ]
    with sessions() as session, pytest.raises(NotOnCaseload):
        rights.close_request(session, principal=north.other, request_id=request_id,
                             status=RightsRequestStatus.done,
                             outcome="done", now=utcnow())


def test_privacy_notices_are_sent_and_read_within_the_caseload(
    sessions: sessionmaker[Session], north: North
) -> None:
    schedules = build_schedules(overrides={}, max_days=2192)
    with sessions() as session, pytest.raises(NotOnCaseload):
        notices.send_on_request(session, principal=north.other, subject_id=north.subject_id,
                                now=utcnow(), schedules=schedules)
    with sessions() as session, pytest.raises(NotOnCaseload):
        notices.list_notices(session, principal=north.other, subject_id=north.subject_id)
    with sessions() as session:
        assert notices.list_notices(session, principal=north.auditor,
                                    subject_id=north.subject_id) == []

"""Case workers see only their caseload; history needs a purpose; break glass is reviewed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access import breakglass
from openem.access.models import AuditEntry, ReviewTask, Role
from openem.access.policy import EvidenceScope
from openem.access.purposes import DataClass, HistoryRefused
from openem.db.session import transaction
from openem.errors import Forbidden, Invalid, NotFound
from openem.subjects.history import break_glass, open_history
from tests.conftest import bearer
from tests.support import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_caseworker_sees_only_their_teams_caseload_and_idor_is_404_and_audited(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        north = factories.token_for(session, factories.user(session, Role.caseworker, team="north"))
        mine = factories.subject(session, caseload_team="north")
        theirs = factories.subject(session, caseload_team="south")
        their_order = factories.order(session, theirs.id)
        mine_id, theirs_id, their_order_id = mine.id, theirs.id, their_order.id
    headers = bearer(north)
    listed = client.get("/api/v1/subjects", headers=headers).json()["items"]
    assert [s["id"] for s in listed] == [str(mine_id)]
    assert client.get(f"/api/v1/subjects/{mine_id}", headers=headers).status_code == 200
    idor = client.get(f"/api/v1/subjects/{theirs_id}", headers=headers)
    unknown = client.get(f"/api/v1/subjects/{uuid.uuid4()}", headers=headers)
    assert idor.status_code == unknown.status_code == 404
    assert idor.json() == unknown.json()
    assert client.get(f"/api/v1/orders/{their_order_id}", headers=headers).status_code == 404
    assert client.get("/api/v1/orders", headers=headers).json()["items"] == []
    moved = client.patch(
        f"/api/v1/subjects/{mine_id}", json={"caseload_team": "south"}, headers=headers
    )
    assert moved.status_code == 403
    with sessions() as session:
        refused = session.execute(
            select(AuditEntry.action, AuditEntry.subject_id).where(AuditEntry.outcome == "refused")
        ).all()
    assert ("subject.read", theirs_id) in refused
    assert ("order.read", theirs_id) in refused


def test_operator_and_supervisor_see_every_caseload(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        operator = factories.token_for(session, factories.user(session, Role.operator, team=None))
        subject = factories.subject(session, caseload_team="south")
        subject_id = subject.id
    assert client.get(f"/api/v1/subjects/{subject_id}", headers=bearer(operator)).status_code == 200


def test_history_needs_a_listed_purpose_and_is_audited_with_it(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        caseworker = factories.principal_for(factories.user(session, Role.caseworker))
        subject = factories.subject(session, caseload_team="north")
        with pytest.raises(Invalid):
            open_history(
                session,
                principal=caseworker,
                subject_id=subject.id,
                data_class=DataClass.location_history,
                purpose="curiosity",
                detail="x",
                now=NOW,
            )
        access = open_history(
            session,
            principal=caseworker,
            subject_id=subject.id,
            data_class=DataClass.location_history,
            purpose="breach_notified",
            detail="curfew breach reported by the monitoring centre",
            now=NOW,
        )
        assert access.window is None and access.purpose == "breach_notified"
    with sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "history.open.location_history")
        ).one()
    assert (entry.purpose, entry.subject_id) == ("breach_notified", subject.id)
    assert entry.purpose_detail == "curfew breach reported by the monitoring centre"


def test_history_without_purpose_or_of_another_caseload_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        caseworker = factories.principal_for(factories.user(session, Role.caseworker))
        operator = factories.principal_for(factories.user(session, Role.operator, team=None))
        mine = factories.subject(session, caseload_team="north")
        theirs = factories.subject(session, caseload_team="south")
        with pytest.raises(HistoryRefused, match="purpose is required"):
            open_history(
                session,
                principal=caseworker,
                subject_id=mine.id,
                data_class=DataClass.frames,
                purpose=None,
                detail=None,
                now=NOW,
            )
        with pytest.raises(HistoryRefused):
            open_history(
                session,
                principal=caseworker,
                subject_id=theirs.id,
                data_class=DataClass.frames,
                purpose="intelligence",
                detail="tip-off",
                now=NOW,
            )
        with pytest.raises(HistoryRefused):
            open_history(
                session,
                principal=operator,
                subject_id=mine.id,
                data_class=DataClass.location_history,
                purpose="intelligence",
                detail="x",
                now=NOW,
            )


def test_operator_sees_history_only_within_an_alerts_evidence(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        operator = factories.principal_for(factories.user(session, Role.operator, team=None))
        subject = factories.subject(session)
        other = factories.subject(session)
        evidence = EvidenceScope(
            alert_id=uuid.uuid4(), subject_id=subject.id, start=NOW - timedelta(hours=1), end=NOW
        )
        access = open_history(
            session,
            principal=operator,
            subject_id=subject.id,
            data_class=DataClass.location_history,
            purpose=None,
            detail=None,
            now=NOW,
            evidence_scope=evidence,
        )
        assert access.window == (evidence.start, evidence.end)
        with pytest.raises(HistoryRefused):
            open_history(
                session,
                principal=operator,
                subject_id=other.id,
                data_class=DataClass.location_history,
                purpose=None,
                detail=None,
                now=NOW,
                evidence_scope=evidence,
            )


def test_break_glass_is_loud_and_creates_a_review_task_for_a_supervisor(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with transaction(sessions) as session:
        caseworker = factories.principal_for(factories.user(session, Role.caseworker))
        supervisor = factories.principal_for(factories.user(session, Role.supervisor))
        theirs = factories.subject(session, caseload_team="south")
        access, task = break_glass(
            session,
            principal=caseworker,
            subject_id=theirs.id,
            data_class=DataClass.location_history,
            reason="subject reported missing, welfare risk",
            now=NOW,
        )
        assert access.break_glass and task.status == "open"
        with pytest.raises(NotFound):
            break_glass(
                session,
                principal=caseworker,
                subject_id=uuid.uuid4(),
                data_class=DataClass.frames,
                reason="a long enough reason",
                now=NOW,
            )
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "break_glass")).one()
        assert (entry.record_id, entry.subject_id) == (str(task.id), theirs.id)
        open_tasks = breakglass.list_reviews(session, principal=supervisor, status="open").items
        assert [t.id for t in open_tasks] == [task.id]
    with pytest.raises(Forbidden), transaction(sessions) as session:
        breakglass.resolve_review(
            session,
            principal=caseworker,
            task_id=task.id,
            outcome=breakglass.ReviewOutcome.justified,
            note="self-review",
            now=NOW,
        )
    with transaction(sessions) as session:
        resolved = breakglass.resolve_review(
            session,
            principal=supervisor,
            task_id=task.id,
            outcome=breakglass.ReviewOutcome.justified,
            note="proportionate",
            now=NOW,
        )
        assert resolved.status == "resolved" and resolved.resolved_by == supervisor.user_id
    with sessions() as session:
        assert session.get(ReviewTask, task.id) is not None


def test_break_glass_over_http_then_supervisor_resolves(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        caseworker = factories.token_for(session, factories.user(session, Role.caseworker))
        supervisor = factories.token_for(session, factories.user(session, Role.supervisor))
        subject_id = factories.subject(session, caseload_team="south").id
    opened = client.post(
        f"/api/v1/subjects/{subject_id}/break-glass",
        json={"data_class": "frames", "reason": "urgent safeguarding concern"},
        headers=bearer(caseworker),
    )
    assert opened.status_code == 201, opened.text
    task_id = opened.json()["review_task_id"]
    reviews = client.get("/api/v1/reviews?status=open", headers=bearer(supervisor)).json()
    assert [r["id"] for r in reviews["items"]] == [task_id]
    resolved = client.post(
        f"/api/v1/reviews/{task_id}/resolution",
        json={"outcome": "justified", "note": "checked with the case worker"},
        headers=bearer(supervisor),
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"

"""Data-protection pages: retention and holds, subject access download, reviews due, bias
report; and a restriction of processing refusing history reads except for kept purposes."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry, OrganisationKind, Role
from openem.access.principal import SYSTEM
from openem.app import create_app
from openem.config import Settings
from openem.retention import rights
from openem.retention.models import LegalHold, RightsRequestKind
from openem.subjects.models import Order, OrderReview
from tests.support import factories
from tests.web.support import log_in

PAGES = {"/retention": "retention:read", "/order-reviews": "proportionality:read",
         "/bias": "reports:read"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def web(database_url: str, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        bus_url="memory://",
        data_dir=data_dir,
        key_file=data_dir / "master.key",
        session_cookie_secure=False,
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> dict[str, uuid.UUID]:
    with sessions() as session, session.begin():
        org = factories.organisation(session)
        police_org = factories.organisation(session, kind=OrganisationKind.police)
        subject = factories.subject(session, caseload_team="north")
        order = factories.order(session, subject.id)
        order.next_review_on = date.today() - timedelta(days=3)
        return {
            role.value: factories.user(session, role, team="north" if role == Role.caseworker
                                       else None, org=police_org if role == Role.police else org).id
            for role in (Role.caseworker, Role.police, Role.auditor, Role.supervisor,
                         Role.operator, Role.admin)
        } | {"subject": subject.id, "order": order.id}


@pytest.mark.parametrize(
    ("path", "allowed", "refused"),
    [
        ("/retention", ("auditor", "supervisor", "admin"), ("caseworker", "operator", "police")),
        ("/order-reviews", ("caseworker", "supervisor", "auditor"), ("operator", "police")),
        ("/bias", ("auditor", "supervisor"), ("caseworker", "operator", "admin")),
    ],
)
def test_pages_follow_the_policy_and_the_navigation_with_them(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID],
    path: str, allowed: tuple[str, ...], refused: tuple[str, ...],
) -> None:
    for role in allowed:
        log_in(web, sessions, people[role])
        page = web.get(path)
        assert page.status_code == 200, (role, path)
        assert f'href="{path}" aria-current="page"' in page.text
    for role in refused:
        log_in(web, sessions, people[role])
        assert web.get(path).status_code == 403, (role, path)
        assert f'href="{path}"' not in web.get("/account").text
    with sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(
            AuditEntry.actor_id == people[refused[0]], AuditEntry.outcome == "refused")))
    assert f"permission.{PAGES[path]}" in actions


def test_auditor_places_and_releases_a_hold(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID]
) -> None:
    csrf = log_in(web, sessions, people["auditor"])
    form = {"subject_id": str(people["subject"]), "reason": "Judicial review pending",
            "expires_on": (date.today() + timedelta(days=30)).isoformat()}
    assert web.post("/retention/holds", data=form).status_code == 403  # no CSRF token
    placed = web.post("/retention/holds", data=form | {"csrf_token": csrf})
    assert placed.status_code == 303 and placed.headers["location"] == "/retention?done=placed"
    page = web.get(placed.headers["location"])
    assert "Judicial review pending" in page.text and "Hold placed." in page.text
    assert str(people["subject"]) not in placed.headers["location"]
    with sessions() as session:
        hold = session.scalars(select(LegalHold)).one()
    released = web.post("/retention/holds/release",
                        data={"hold_id": str(hold.id), "csrf_token": csrf})
    assert released.status_code == 303
    assert "No holds in force." in web.get("/retention").text
    with sessions() as session:
        assert session.get(LegalHold, hold.id).released_by == people["auditor"]  # type: ignore[union-attr]


def test_admin_reads_retention_without_holds_and_cannot_place_one(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID]
) -> None:
    csrf = log_in(web, sessions, people["admin"])
    page = web.get("/retention")
    assert page.status_code == 200 and "Schedules per data class" in page.text
    assert "Legal holds in force" not in page.text and 'id="place-hold"' not in page.text
    form = {"subject_id": str(people["subject"]), "reason": "x", "csrf_token": csrf,
            "expires_on": (date.today() + timedelta(days=3)).isoformat()}
    assert web.post("/retention/holds", data=form).status_code == 403


def test_subject_access_export_downloads_a_zip(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID]
) -> None:
    csrf = log_in(web, sessions, people["auditor"])
    assert 'id="sar-export"' in web.get("/retention").text
    response = web.post("/retention/subject-access",
                        data={"subject_id": str(people["subject"]), "csrf_token": csrf})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["subject_id"] == str(people["subject"])
    log_in(web, sessions, people["supervisor"])  # holds yes, subject access no
    assert web.post("/retention/subject-access",
                    data={"subject_id": str(people["subject"]), "csrf_token": csrf}
                    ).status_code == 403


def test_review_decision_is_recorded_from_the_reviews_due_page(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID]
) -> None:
    csrf = log_in(web, sessions, people["caseworker"])
    page = web.get("/order-reviews")
    assert str(people["order"]) in page.text and "3 days overdue" in page.text
    assert 'class="decision"' in page.text and '<th scope="col">Review due' in page.text
    next_review = date.today() + timedelta(days=60)
    recorded = web.post("/order-reviews/decision", data={
        "order_id": str(people["order"]), "decision": "fewer_checkins", "checkins_per_day": "1",
        "reasons": "Compliant for three months", "next_review_on": next_review.isoformat(),
        "csrf_token": csrf,
    })
    assert recorded.status_code == 303
    assert "Review decision recorded." in web.get(recorded.headers["location"]).text
    with sessions() as session:
        review = session.scalars(select(OrderReview)).one()
        order = session.get(Order, people["order"])
        assert order is not None
        assert (review.decision, review.reviewer_id) == ("fewer_checkins", people["caseworker"])
        assert (order.checkins_per_day, order.next_review_on) == (1, next_review)
    log_in(web, sessions, people["auditor"])  # reads, never decides
    page = web.get("/order-reviews")
    assert page.status_code == 200 and 'class="decision"' not in page.text


def test_bias_page_shows_the_latest_report_and_an_empty_state(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID],
    data_dir: Path,
) -> None:
    log_in(web, sessions, people["auditor"])
    empty = web.get("/bias")
    assert 'id="no-report"' in empty.text and "reports/bias/" in empty.text
    folder = data_dir / "reports" / "bias"
    folder.mkdir(parents=True)
    report = {
        "name": "faces",
        "machine": {"python": "3.11.9", "cpus": 2, "model_version": "dlib-r100-v1"},
        "figures": {"pair_accuracy": 0.978, "roc_auc": 0.985, "eer_ci95": [0.019, 0.032],
                    "prompt_level": {"centroid": {"gar": 0.96}}},
        "targets": {"roc_auc": {"target": 0.995, "op": ">=", "met": False}},
        "groups": {"skin_tone": {"threshold": 0.52, "fnmr_worst_best_ratio": 1.8125,
                                 "prompt_fnmr_worst_best_ratio": None,
                                 "values": {"darker": {"fnmr": 0.029, "fmr": 0.001,
                                                       "genuine_pairs": 120},
                                            "lighter": {"fnmr": 0.016, "fmr": 0.002,
                                                        "genuine_pairs": 410}}}},
        "peer": {"library": "face_recognition 1.3.0", "roc_auc": 0.981},
    }
    (folder / "faces-old.json").write_text("{not json")
    (folder / "faces-new.json").write_text(json.dumps(report))
    newest = datetime.now(UTC).timestamp()
    os.utime(folder / "faces-old.json", (newest - 60, newest - 60))
    page = web.get("/bias")
    assert page.status_code == 200 and 'id="no-report"' not in page.text
    assert "faces-new.json" in page.text and "skin_tone" in page.text
    assert "1.812" in page.text and "darker" in page.text and "not met" in page.text
    assert "face_recognition 1.3.0" in page.text
    assert "0.019" not in page.text  # nested figures (lists, dicts) are not rendered


def test_restriction_refuses_a_welfare_read_but_allows_a_court_order(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, uuid.UUID]
) -> None:
    with sessions() as session, session.begin():
        request = rights.record_request(
            session, principal=SYSTEM, subject_id=people["subject"],
            kind=RightsRequestKind.restriction, detail="Contests accuracy of the trail",
            now=datetime.now(UTC),
        )
        request_id = request.id
    log_in(web, sessions, people["caseworker"])
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=2)).isoformat(), "to": now.isoformat()}
    url = f"/api/v1/subjects/{people['subject']}/positions"
    refused = web.get(url, params=window | {"purpose": "welfare_concern"},
                      headers={"X-Purpose-Detail": "Missed two check-ins"})
    assert refused.status_code == 403
    assert "restricted" in refused.json()["detail"]
    assert str(request_id) in refused.json()["detail"]
    allowed = web.get(url, params=window | {"purpose": "court_order"},
                      headers={"X-Purpose-Detail": "Order of the tribunal, case 12"})
    assert allowed.status_code == 200, allowed.text
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.subject_id == people["subject"],
            AuditEntry.action == "history.open.location_history",
        ).order_by(AuditEntry.seq)).all()
    assert [(e.outcome, e.purpose) for e in entries] == [
        ("refused", "welfare_concern"), ("allowed", "court_order")]
    assert entries[0].purpose_detail == f"restriction of processing: rights request {request_id}"

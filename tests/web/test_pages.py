"""Dashboard pages: the policy decides, caseloads stay scoped, URLs carry no personal data."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry, Role
from openem.access.policy import PERMISSIONS
from openem.access.principal import SYSTEM
from openem.app import create_app
from openem.config import Settings
from openem.devices import service as devices_service
from openem.devices.schemas import DeviceCreate
from openem.subjects.models import Order
from tests.support import factories
from tests.web.support import log_in

# Fixed ids: every pytest-xdist worker must collect the same test names.
SOME_SUBJECT = uuid.UUID("5b0c1c8e-3f7a-4d1e-9a53-0c2f8b6d4e71")
PAGES = ["/", "/caseload", f"/subjects/{SOME_SUBJECT}", "/alerts", "/audit", "/reviews",
         "/police-requests", f"/subjects/{SOME_SUBJECT}/zones", "/account"]


@pytest.fixture
def web(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        bus_url="memory://",
        data_dir=tmp_path,
        key_file=tmp_path / "master.key",
        session_cookie_secure=False,
        tile_url="https://tiles.example.org/{z}/{x}/{y}.png",
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> dict[str, object]:
    with sessions() as session, session.begin():
        org = factories.organisation(session)
        police_org = factories.organisation(session, kind="police")
        north = factories.subject(session, caseload_team="north", given_name="Northam")
        factories.order(session, north.id)
        south = factories.subject(session, caseload_team="south", given_name="Southby")
        return {
            "caseworker": factories.user(session, Role.caseworker, team="north", org=org).id,
            "police": factories.user(session, Role.police, team=None, org=police_org).id,
            "auditor": factories.user(session, Role.auditor, team=None, org=org).id,
            "supervisor": factories.user(session, Role.supervisor, team=None, org=org).id,
            "north": north.id,
            "north_ref": north.home_office_reference,
            "south": south.id,
            "south_ref": south.home_office_reference,
        }


@pytest.mark.parametrize("path", PAGES)
def test_pages_without_a_session_redirect_to_login(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_login_page_is_public_and_sends_security_headers(web: TestClient) -> None:
    response = web.get("/login")
    assert response.status_code == 200
    assert 'id="totp_code"' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "https://tiles.example.org" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_leaflet_is_served_from_its_package(web: TestClient) -> None:
    assert web.get("/static/leaflet/leaflet-src.esm.js").status_code == 200
    assert web.get("/static/leaflet/leaflet.css").status_code == 200


def test_caseworker_sees_only_their_caseload(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["caseworker"])
    page = web.get("/caseload")
    assert page.status_code == 200
    assert str(people["north_ref"]) in page.text
    assert str(people["south_ref"]) not in page.text
    assert web.get(f"/subjects/{people['north']}").status_code == 200
    other = web.get(f"/subjects/{people['south']}")
    assert other.status_code == 404
    assert str(people["south_ref"]) not in other.text


def test_filter_forms_sent_with_their_any_options_and_empty_fields_are_answered(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["caseworker"])
    caseload = web.get("/caseload", params={"status": "all", "risk": ""})
    assert caseload.status_code == 200 and str(people["north_ref"]) in caseload.text
    assert web.get("/caseload", params={"risk": "extreme"}).status_code == 422
    log_in(web, sessions, people["supervisor"])
    blank = {"actor_id": "", "subject_id": "", "since": "", "until": "", "outcome": ""}
    assert web.get("/audit", params=blank).status_code == 403  # audited as refused
    log_in(web, sessions, people["auditor"])
    refused = web.get("/audit", params=blank | {"outcome": "refused"})
    assert refused.status_code == 200 and "permission.audit:read" in refused.text
    allowed = web.get("/audit", params=blank | {"outcome": "allowed"})
    assert allowed.status_code == 200 and "permission.audit:read" not in allowed.text
    assert web.get("/audit", params=blank | {"actor_id": "not-an-id"}).status_code == 422


def test_search_by_reference_travels_in_a_post_body_with_csrf(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    csrf = log_in(web, sessions, people["caseworker"])
    found = web.post("/caseload", data={"reference": people["north_ref"], "csrf_token": csrf})
    assert found.status_code == 200 and str(people["north"]) in found.text
    hidden = web.post("/caseload", data={"reference": people["south_ref"], "csrf_token": csrf})
    assert str(people["south"]) not in hidden.text
    assert web.post("/caseload", data={"reference": people["north_ref"]}).status_code == 403


def test_police_officer_has_no_subject_page(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["police"])
    assert web.get(f"/subjects/{people['north']}").status_code == 403
    assert web.get("/caseload").status_code == 403
    home = web.get("/")
    assert home.headers["location"] == "/police-requests"
    assert web.get("/police-requests").status_code == 200
    with sessions() as session:
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.actor_id == people["police"],
                                     AuditEntry.outcome == "refused")
        ).all()
    assert {entry.action for entry in refused} == {"permission.subjects:read"}


def test_viewing_a_subject_page_is_audited(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["caseworker"])
    web.get(f"/subjects/{people['north']}")
    with sessions() as session:
        actions = set(session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == people["north"],
                                            AuditEntry.actor_id == people["caseworker"])
        ))
    assert "subject.read" in actions


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', html)


def test_no_personal_data_in_any_url_the_pages_link_to(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["supervisor"])
    personal = [str(people["north_ref"]), str(people["south_ref"]), "Northam", "Southby",
                "Fictional", "1985"]
    paths = ["/caseload", f"/subjects/{people['north']}", "/reviews", "/order-reviews",
             "/retention", "/bias"]
    if "zones:read" in PERMISSIONS:  # the zones editor lights up with the zones domain
        paths.append(f"/subjects/{people['north']}/zones")
    for path in paths:
        response = web.get(path)
        assert response.status_code == 200, path
        for url in _urls(response.text):
            assert not any(value in url for value in personal), (path, url)


def test_auditor_reaches_the_audit_page_only(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["auditor"])
    assert web.get("/").headers["location"] == "/audit"
    assert web.get("/audit").status_code == 200
    assert web.get(f"/audit?subject_id={people['north']}").status_code == 200
    assert web.get(f"/subjects/{people['north']}").status_code == 403
    assert web.get("/reviews").status_code == 403


def test_supervisor_sees_reviews_due(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    log_in(web, sessions, people["supervisor"])
    assert web.get("/reviews").status_code == 200
    page = web.get("/caseload")
    assert str(people["north_ref"]) in page.text and str(people["south_ref"]) in page.text


def test_the_subject_timeline_shows_when_each_device_was_fitted_and_taken_off(
    web: TestClient, sessions: sessionmaker[Session], people: dict[str, object]
) -> None:
    now = datetime.now(UTC)
    with sessions() as session, session.begin():
        order = session.scalars(select(Order).where(Order.subject_id == people["north"])).one()
        first, second = (
            devices_service.register_device(session, principal=SYSTEM, data=DeviceCreate(
                kind=order.device_kind, serial=f"TIMELINE-{n}-{uuid.uuid4().hex[:6]}"))
            for n in (1, 2)
        )
        for device, fitted, ended in ((first, 5, 4), (second, 3, 2)):
            devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                          order_id=order.id, now=now - timedelta(hours=fitted))
            devices_service.unassign_device(session, principal=SYSTEM, device_id=device.id,
                                            now=now - timedelta(hours=ended))
        devices_service.assign_device(session, principal=SYSTEM, device_id=first.id,
                                      order_id=order.id, now=now - timedelta(hours=1))
        devices_service.record_removal(session, principal=SYSTEM, device_id=first.id, now=now)
    log_in(web, sessions, people["caseworker"])
    page = web.get(f"/subjects/{people['north']}").text
    timeline = re.search(r'<ol id="timeline".*?</ol>', page, re.S)
    assert timeline is not None
    kind = order.device_kind
    device_lines = [line for line in re.findall(r"</time> ([^<]*)</li>", timeline.group(0))
                    if line.startswith("Device")]
    assert device_lines == [
        f"Device fitted ({kind})", f"Device taken off the order ({kind})",
        f"Device fitted ({kind})", f"Device taken off the order ({kind})",
        f"Device fitted ({kind})", f"Device removed by a technician ({kind})",
    ]

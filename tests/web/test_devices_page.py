"""The devices page: the fleet with its health for whoever may read devices; registering
and acting on a device only for those who may change them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import Role
from openem.access.principal import SYSTEM
from openem.app import create_app
from openem.config import Settings
from openem.db.base import utcnow
from openem.devices import service as devices_service
from openem.devices.models import DeviceHealth, DeviceState
from openem.devices.schemas import DeviceCreate, DeviceUpdate
from tests.support import factories
from tests.web.support import log_in


@pytest.fixture
def web(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, bus_url="memory://", data_dir=tmp_path,
                        key_file=tmp_path / "master.key", session_cookie_secure=False,
                        rules_removal_leeway_minutes=45)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


FITTED = (utcnow() - timedelta(hours=3)).replace(second=0, microsecond=0)


@pytest.fixture
def fleet(sessions: sessionmaker[Session]) -> dict[str, object]:
    """A tag on an order (strap cut, battery low), a watch in stock, a faulty watch."""
    now = utcnow()
    with sessions() as session, session.begin():
        subject = factories.subject(session)
        order = factories.order(session, subject.id, device_kind="fitted_tag", checkins_per_day=0)

        def device(kind: str, serial: str) -> object:
            return devices_service.register_device(
                session, principal=SYSTEM, data=DeviceCreate(kind=kind, serial=serial))

        tag, watch, broken = (device("fitted_tag", "TAG-0001"), device("smartwatch", "W-0002"),
                              device("smartwatch", "W-0003"))
        devices_service.assign_device(session, principal=SYSTEM, device_id=tag.id,
                                      order_id=order.id, now=now, fitted_at=FITTED)
        devices_service.update_device(session, principal=SYSTEM, device_id=broken.id,
                                      data=DeviceUpdate(state=DeviceState.faulty), now=now)
        session.add(DeviceHealth(device_id=tag.id, subject_id=subject.id,
                                 last_seen_at=now - timedelta(minutes=5), battery_level=12,
                                 charging=False, strap_state="cut"))
        org = factories.organisation(session)
        return {
            "subject": subject.id, "tag": tag.id, "watch": watch.id, "broken": broken.id,
            "admin": factories.user(session, Role.admin, team=None, org=org).id,
            "caseworker": factories.user(session, Role.caseworker, team="north", org=org).id,
            "police": factories.user(session, Role.police, team=None,
                                     org=factories.organisation(session, kind="police")).id,
        }


def _row(page: str, device_id: object) -> str:
    match = re.search(rf'<tr data-device-id="{device_id}".*?</tr>', page, re.S)
    assert match, f"no row for {device_id}"
    return match.group(0)


def test_the_admin_sees_each_device_with_its_health_and_can_act_on_it(
    web: TestClient, sessions: sessionmaker[Session], fleet: dict[str, object]
) -> None:
    log_in(web, sessions, fleet["admin"])
    assert web.get("/").headers["location"] == "/devices"
    page = web.get("/devices").text
    assert 'id="register-form"' in page and "/static/devices.js" in page
    tag = _row(page, fleet["tag"])
    assert "TAG-0001" in tag and ">assigned<" in tag and "5 min ago" in tag and "12%" in tag
    assert "strap cut" in tag and "low battery" in tag
    assert f'href="/subjects/{fleet["subject"]}"' in tag
    assert f"since {FITTED:%Y-%m-%d %H:%M} UTC" in tag
    assert 'data-action="unassign"' in tag and 'data-action="retire"' in tag
    assert 'data-action="removal"' in tag
    # A removal's dialog says how long before it a strap cut is the removal's (the setting).
    assert 'id="removal-dialog"' in page and "up to 45 minutes before is not tamper" in page
    watch = _row(page, fleet["watch"])
    assert "never" in watch and 'data-action="pairing-code"' in watch
    assert 'data-action="tracker-secret"' in watch
    assert 'data-action="unassign"' not in watch and 'data-action="removal"' not in watch
    broken = _row(page, fleet["broken"])
    assert 'data-action="stock"' in broken and 'data-action="pairing-code"' not in broken
    assert 'data-action="tracker-secret"' not in broken


def test_a_caseworker_reads_the_fleet_but_has_no_controls(
    web: TestClient, sessions: sessionmaker[Session], fleet: dict[str, object]
) -> None:
    log_in(web, sessions, fleet["caseworker"])
    page = web.get("/devices")
    assert page.status_code == 200
    assert 'href="/devices"' in web.get("/caseload").text  # in the navigation
    assert "TAG-0001" in page.text and "W-0002" in page.text
    assert "register-form" not in page.text and "data-action" not in page.text
    assert "removal-dialog" not in page.text
    assert "/static/devices.js" not in page.text


def test_police_have_no_devices_page(
    web: TestClient, sessions: sessionmaker[Session], fleet: dict[str, object]
) -> None:
    log_in(web, sessions, fleet["police"])
    assert web.get("/devices").status_code == 403


def test_the_fleet_filters_by_state_kind_and_serial_and_refuses_unknown_states(
    web: TestClient, sessions: sessionmaker[Session], fleet: dict[str, object]
) -> None:
    log_in(web, sessions, fleet["admin"])
    faulty = web.get("/devices?state=faulty").text
    assert "W-0003" in faulty and "W-0002" not in faulty and "TAG-0001" not in faulty
    tags = web.get("/devices?kind=fitted_tag").text
    assert "TAG-0001" in tags and "W-0002" not in tags
    watches = web.get("/devices?serial=W-000").text
    assert "W-0002" in watches and "W-0003" in watches and "TAG-0001" not in watches
    listed = web.get("/api/v1/devices", params={"serial": "TAG-"}).json()["items"]
    assert [device["serial"] for device in listed] == ["TAG-0001"]
    for odd in ("W%", "W\x00"):
        assert web.get("/api/v1/devices", params={"serial": odd}).status_code == 422
    assert web.get("/devices?state=lost").status_code == 422
    as_the_form_sends_it = web.get("/devices?state=&kind=&serial=")
    assert as_the_form_sends_it.status_code == 200 and "TAG-0001" in as_the_form_sends_it.text


def test_a_long_fleet_comes_in_pages_of_fifty(
    web: TestClient, sessions: sessionmaker[Session], fleet: dict[str, object]
) -> None:
    with sessions() as session, session.begin():
        for number in range(50):
            devices_service.register_device(session, principal=SYSTEM, data=DeviceCreate(
                kind="smartwatch", serial=f"STOCK-{number:03}"))
    log_in(web, sessions, fleet["admin"])
    first = web.get("/devices?state=stock").text
    assert first.count("<tr data-device-id=") == 50
    link = re.search(r'id="next-page" rel="next" href="([^"]+)"', first)
    assert link, "no next page"
    second = web.get(link.group(1).replace("&amp;", "&")).text
    assert second.count("<tr data-device-id=") == 1  # 51 in stock: the watch and these
    assert 'id="next-page"' not in second

"""End to end in the system Chromium against a real server: log in with TOTP, open the
caseload and a trail (purpose asked and audited), police without a grant, live alerts, zones."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry
from openem.access.principal import SYSTEM
from openem.app import create_app
from openem.crypto.envelope import load_keyring
from openem.db import migrate
from openem.db.engine import make_engine
from openem.db.session import make_session_factory
from openem.devices import service as devices_service
from openem.devices.models import DeviceAssignment
from openem.devices.schemas import DeviceCreate
from tests.conftest import bearer
from tests.support import factories
from tests.support.devices import pair, send
from tests.support.factories import PASSWORD
from tests.support.server import free_port, running, wait_for_health
from tests.web.browser import (
    CHROMIUM_ARGS,
    RESET,
    SECOND_ADMIN,
    Seed,
    chromium_path,
    screenshot,
    seed,
)

ROUTES = set(create_app().openapi()["paths"])  # app.routes hides included routers
TIMEOUT_MS = 10_000


def _needs(path: str, what: str) -> None:
    if path not in ROUTES:
        pytest.skip(f"the {what} API ({path}) is not in this app yet; this test waits for it")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Seed, sessionmaker[Session]]]:
    chromium_path()
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'openem.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    keyring = load_keyring(tmp / "master.key", create=True)
    with sessions() as session, session.begin():
        data = seed(session, keyring)
    port = free_port()
    env = {
        "OPENEM_DATABASE_URL": url,
        "OPENEM_PORT": str(port),
        "OPENEM_DATA_DIR": str(tmp),
        "OPENEM_KEY_FILE": str(tmp / "master.key"),
        "OPENEM_SESSION_COOKIE_SECURE": "false",
        "OPENEM_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # no tiles: plain background
    }
    base = f"http://127.0.0.1:{port}"
    with running(["serve"], env=env, cwd=tmp):
        wait_for_health(base, timeout=30)
        with httpx.Client(base_url=base) as client:
            _trail(client, data)
        yield base, data, sessions
    engine.dispose()


def _trail(client: httpx.Client, data: Seed) -> None:
    """A paired device on the subject's order and an hour of fixes, through the device API."""
    device = pair(client, data.admin_token)
    now = datetime.now(UTC)
    assigned = client.post(f"/api/v1/devices/{device.device_id}/assignment",
                           json={"order_id": str(data.order_id),
                                 "fitted_at": (now - timedelta(minutes=61)).isoformat()},
                           headers=bearer(data.admin_token))
    assert assigned.status_code == 200, assigned.text
    fixes = [device.position(lat=51.5 + 0.002 * math.sin(i / 5), lon=-0.12 + i * 0.0004,
                             at=now - timedelta(minutes=60 - i)) for i in range(60)]
    sent = send(client, device, fixes)
    assert sent.status_code < 300, sent.text


@pytest.fixture(scope="module")
def browser(server: tuple[str, Seed, Any]) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _browser_local_minute(page: Any, moment: datetime) -> str:
    """``moment`` as a datetime-local input takes it: the browser's local time, to the minute."""
    zone = ZoneInfo(page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone"))
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _logged_in(browser: Any, server: tuple[str, Seed, Any], role: str) -> Any:
    base, data, _ = server
    context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/")
    assert page.url.endswith("/login")
    username, _secret = data.users[role]
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_label("Authenticator code").fill(data.code(role))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: not url.endswith("/login"))
    return page


@pytest.fixture(scope="module")
def caseworker(browser: Any, server: tuple[str, Seed, Any]) -> Iterator[Any]:
    page = _logged_in(browser, server, "caseworker")
    yield page
    page.context.close()


def test_caseworker_logs_in_with_totp_and_opens_a_trail_for_a_stated_purpose(
    caseworker: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    _, data, sessions = server
    page = caseworker
    page.wait_for_url("**/caseload")
    assert data.reference in page.locator("#caseload").inner_text()
    screenshot(page, "caseload")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/subjects/{data.subject_id}")
    assert data.reference not in page.url
    page.get_by_label("Purpose").select_option("court_order")
    page.get_by_label("Detail").fill("Court order 42 for the hearing")
    page.get_by_role("button", name="Show the last 24 h").click()
    expect(page.locator("#trail-status")).to_contain_text("points shown")
    assert page.locator(".leaflet-overlay-pane path").count() >= 1
    screenshot(page, "subject-trail")
    with sessions() as session:
        reads = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "positions.read", AuditEntry.subject_id == data.subject_id,
        )).all()
    assert [(e.purpose, e.purpose_detail) for e in reads] == [
        ("court_order", "Court order 42 for the hearing")
    ]


def test_police_officer_cannot_see_a_subject_without_a_grant(
    browser: Any, server: tuple[str, Seed, Any]
) -> None:
    _, data, _ = server
    page = _logged_in(browser, server, "police")
    page.wait_for_url("**/police-requests")
    response = page.goto(f"/subjects/{data.subject_id}")
    assert response is not None and response.status == 403
    assert data.reference not in page.content()
    screenshot(page, "police-no-subject")
    page.context.close()


def test_a_live_alert_arrives_and_is_acknowledged_and_resolved_by_keyboard(
    caseworker: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    _needs("/api/v1/alerts/stream", "alerts")
    from openem.alerts import raising
    from openem.alerts.types import AlertType

    _, data, sessions = server
    page = caseworker
    page.goto("/alerts")
    expect(page.locator("#live")).to_have_text("live")
    with sessions() as session, session.begin():
        now = datetime.now(UTC)
        raising.raise_alert(session, subject_id=data.subject_id, alert_type=AlertType.strap_tamper,
                            key="browser-test", started_at=now, now=now)
    row = page.locator("#queue tbody tr[data-id]")
    row.first.wait_for()
    assert "compliance" in row.first.inner_text() or "technical" in row.first.inner_text()
    screenshot(page, "alert-arrived")
    page.keyboard.press("j")
    page.keyboard.press("a")
    expect(page.locator("#queue tbody")).to_contain_text("acknowledged")
    page.keyboard.press("r")
    page.keyboard.press("1")
    page.get_by_label("Note").fill("Strap re-seated, checked on the phone")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator("#queue tbody tr[data-id]")).to_have_count(0)
    screenshot(page, "alert-resolved")


def test_a_zone_is_drawn_as_a_circle_and_saved(
    caseworker: Any, server: tuple[str, Seed, Any]
) -> None:
    _needs("/api/v1/subjects/{subject_id}/zones", "zones")
    _, data, _ = server
    page = caseworker
    page.goto(f"/subjects/{data.subject_id}/zones")
    map_box = page.locator("#map").bounding_box()
    x, y = map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2
    page.keyboard.press("c")
    page.mouse.click(x, y)
    page.mouse.click(x + 80, y)
    assert "Circle, radius" in page.locator("#shape-summary").inner_text()
    page.get_by_label("Name").fill("Home")
    page.get_by_role("button", name="Save zone").click()
    page.locator("#zones-list", has_text="Home").wait_for()
    screenshot(page, "zone-drawn")


def test_auditor_places_a_legal_hold_from_the_retention_page(
    browser: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    _, data, sessions = server
    page = _logged_in(browser, server, "auditor")
    try:
        nav = page.get_by_role("navigation", name="Sections")
        nav.get_by_role("link", name="Retention").click()
        page.wait_for_url("**/retention")
        expect(page.locator("#schedules")).to_contain_text("positions")
        form = page.locator("#place-hold")
        form.get_by_label("Subject id").fill(str(data.subject_id))
        form.get_by_label("Reason").fill("Pending appeal, tribunal ref 7")
        expires = (datetime.now(UTC) + timedelta(days=30)).date()
        form.get_by_label("Expires on").fill(expires.isoformat())
        page.get_by_role("button", name="Place hold").click()
        page.wait_for_url("**/retention?done=placed")
        expect(page.locator("#done")).to_have_text("Hold placed.")
        expect(page.locator("#holds")).to_contain_text("Pending appeal, tribunal ref 7")
        assert str(data.subject_id) not in page.url
        screenshot(page, "retention-hold-placed")
        with sessions() as session:
            placed = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "hold.place", AuditEntry.subject_id == data.subject_id
            )).all()
        assert [e.actor_id for e in placed] == [data.user_ids["auditor"]]
    finally:
        page.context.close()


def test_a_caseworker_writes_to_the_wearer_from_the_subject_page(
    caseworker: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    from openem.devices.models import InboxItem

    _, data, sessions = server
    page = caseworker
    page.goto(f"/subjects/{data.subject_id}")
    panel = page.locator("#messages-panel")
    expect(panel.locator("#messages")).to_contain_text("No messages.")
    panel.get_by_label("Message").fill("Your appointment moved to Thursday 10:00.")
    panel.get_by_role("button", name="Send to the device").click()
    expect(panel.locator("#messages")).to_contain_text(
        "Your appointment moved to Thursday 10:00."
    )
    expect(panel.locator("#messages")).to_contain_text("waiting for the device")
    screenshot(page, "subject-message-sent")
    panel.get_by_label("Language").fill("Polish")
    panel.get_by_label("Message").fill("Prosze zadzwonic.")
    panel.get_by_role("button", name="Send to the device").click()  # refused by the browser
    assert panel.locator("#message-language").evaluate("input => !input.validity.valid")
    expect(panel.locator("#message-text")).to_have_value("Prosze zadzwonic.")  # not sent
    expect(panel.locator("#messages li")).to_have_count(1)
    with sessions() as session:
        sent = session.scalars(select(InboxItem).where(InboxItem.kind == "message")).all()
    assert [(item.subject_id, item.payload["text"]) for item in sent] == [
        (data.subject_id, "Your appointment moved to Thursday 10:00.")
    ]


def test_a_caseworker_changes_their_password_on_the_account_page(
    caseworker: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    _, _, sessions = server
    page = caseworker
    page.goto("/account")
    form = page.locator("#password-form")

    def change(current: str, new: str, again: str | None = None) -> None:
        form.get_by_label("Current password").fill(current)
        form.get_by_label("New password", exact=True).fill(new)
        form.get_by_label("New password again").fill(again or new)
        form.get_by_role("button", name="Change password").click()

    change(PASSWORD, "violet tractor seventeen lamps", "violet tractor seventeen lampz")
    expect(page.locator("#password-error")).to_have_text("The two new passwords differ.")
    change("not the password at all", "violet tractor seventeen lamps")
    expect(page.locator("#password-error")).to_contain_text("current password is wrong")
    change(PASSWORD, "violet tractor seventeen lamps")
    expect(page.locator("#password-done")).to_contain_text("Password changed.")
    screenshot(page, "account-password-changed")
    change("violet tractor seventeen lamps", PASSWORD)  # as it was, for the other tests
    expect(page.locator("#password-done")).to_contain_text("Password changed.")
    with sessions() as session:
        changes = session.scalars(select(AuditEntry.action).where(
            AuditEntry.action == "user.password_change")).all()
    assert len(changes) == 2


def test_after_a_reset_the_caseworker_must_choose_a_password_before_going_on(
    browser: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    page = _logged_in(browser, server, RESET)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#password-reset-notice")).to_contain_text("An administrator reset")
    page.goto("/caseload")
    expect(page).to_have_url(re.compile(r"/account$"))
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill("amber kettle ninety ferns")
    form.get_by_label("New password again").fill("amber kettle ninety ferns")
    form.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/caseload$"))
    expect(page.locator("main h1")).to_contain_text("Caseload")
    page.context.close()


def test_an_administrator_registers_a_device_gets_its_codes_and_retires_it(
    browser: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    _, data, sessions = server
    page = _logged_in(browser, server, "admin")
    try:
        page.wait_for_url("**/devices")
        form = page.locator("#register-form")
        form.get_by_label("Kind").select_option("fitted_tag")
        form.get_by_label("Serial number").fill("TAG-BROWSER-1")
        form.get_by_role("button", name="Register").click()
        row = page.locator("#devices tr", has_text="TAG-BROWSER-1")
        expect(row).to_contain_text("stock")
        row.get_by_role("button", name="Pairing code").click()
        expect(row.locator(".shown-once")).to_have_text(re.compile(r"^Code [A-Z0-9]{10}, until "))
        screenshot(page, "devices-pairing-code")
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Tracker secret").click()
        expect(row.locator(".shown-once")).to_contain_text("Secret ")
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Retire").click()
        expect(row).to_contain_text("retired")
        expect(row.get_by_role("button")).to_have_count(0)
        with sessions() as session:
            actions = session.scalars(select(AuditEntry.action).where(
                AuditEntry.actor_id == data.user_ids["admin"])).all()
        assert {"device.create", "device.pairing_code", "device.tracker_secret",
                "device.retire"} <= set(actions)
    finally:
        page.context.close()


def test_an_administrator_records_when_a_technician_took_a_device_off_its_wearer(
    browser: Any, server: tuple[str, Seed, sessionmaker[Session]]
) -> None:
    _, data, sessions = server
    fitted = datetime.now(UTC) - timedelta(hours=2)
    with sessions() as session, session.begin():  # a wearer outside the caseworker's caseload
        order = factories.order(session, factories.subject(session, caseload_team="south").id)
        device = devices_service.register_device(session, principal=SYSTEM, data=DeviceCreate(
            kind=order.device_kind, serial="WATCH-BROWSER-REMOVED"))
        devices_service.assign_device(session, principal=SYSTEM, device_id=device.id,
                                      order_id=order.id, now=fitted)
    page = _logged_in(browser, server, SECOND_ADMIN)
    try:
        page.wait_for_url("**/devices")
        row = page.locator("#devices tr", has_text="WATCH-BROWSER-REMOVED")
        expect(row).to_contain_text("assigned")
        row.get_by_role("button", name="Removed from wearer").click()
        dialog = page.get_by_role("dialog", name="Removed from wearer: WATCH-BROWSER-REMOVED")
        taken_off = page.get_by_label("Taken off at (your local time)")
        expect(taken_off).to_have_value(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d$"))
        # Before the fitting: refused, said in the dialog, nothing recorded.
        taken_off.fill(_browser_local_minute(page, fitted - timedelta(hours=1)))
        dialog.get_by_role("button", name="Record removal").click()
        expect(dialog.get_by_role("alert")).to_contain_text("fitted")
        screenshot(page, "devices-removal-refused")
        removed = datetime.now(UTC) - timedelta(minutes=20)
        taken_off.fill(_browser_local_minute(page, removed))
        dialog.get_by_role("button", name="Record removal").click()
        expect(row).to_contain_text("paired")
        expect(row.get_by_role("button", name="Removed from wearer")).to_have_count(0)
        with sessions() as session:
            actions = session.scalars(select(AuditEntry.action).where(
                AuditEntry.actor_id == data.user_ids[SECOND_ADMIN],
                AuditEntry.record_id == str(device.id))).all()
            recorded = session.scalars(select(DeviceAssignment.removed_at).where(
                DeviceAssignment.device_id == device.id)).one()
        assert actions.count("device.remove") == 1
        assert recorded is not None
        assert abs(recorded - removed.replace(second=0, microsecond=0)) < timedelta(
            seconds=1)
    finally:
        page.context.close()

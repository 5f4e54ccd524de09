"""Passwords: changed by their owner with the current one, reset by an administrator; either
signs out whoever knew the old one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openem.access import account
from openem.access.models import AuditEntry, Role, StaffSession, User
from openem.access.principal import SYSTEM
from openem.app import create_app
from openem.cli import app as cli
from openem.config import Settings, get_settings
from openem.db.base import utcnow
from openem.db.session import transaction
from tests.conftest import bearer
from tests.support import factories

OLD = factories.PASSWORD
NEW = "violet tractor seventeen lamps"


@pytest.fixture
def http_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, bus_url="memory://", data_dir=tmp_path,
                    key_file=tmp_path / "master.key", session_cookie_secure=False,
                    login_max_failures=3, login_rate_per_minute=50)


@pytest.fixture
def app(http_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(http_settings)) as client:
        yield client


@pytest.fixture
def username(sessions: sessionmaker[Session]) -> str:
    with transaction(sessions) as session:
        return factories.user(session, Role.caseworker).username


def _signed_in(app: TestClient, username: str, password: str = OLD) -> tuple[TestClient, str]:
    """Another browser (its own cookie jar) signed in as ``username``, and its CSRF token."""
    browser = TestClient(app.app)
    response = browser.post("/api/v1/auth/login",
                            json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return browser, response.json()["csrf_token"]


def _change(browser: TestClient, csrf: str, current: str, new: str):  # type: ignore[no-untyped-def]
    return browser.post("/api/v1/auth/password", headers={"X-CSRF-Token": csrf},
                        json={"current_password": current, "new_password": new})


def _actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_a_new_password_signs_out_every_other_browser_but_this_one(
    app: TestClient, username: str, sessions: sessionmaker[Session]
) -> None:
    here, csrf = _signed_in(app, username)
    elsewhere, _ = _signed_in(app, username)
    response = _change(here, csrf, OLD, NEW)
    assert response.status_code == 200, response.text
    assert response.json() == {"other_sessions_ended": 1}
    assert here.get("/api/v1/auth/session").status_code == 200
    assert elsewhere.get("/api/v1/auth/session").status_code == 401
    assert _signed_in(app, username, NEW)[0].get("/api/v1/auth/session").status_code == 200
    refused = app.post("/api/v1/auth/login", json={"username": username, "password": OLD})
    assert refused.status_code == 401
    assert "user.password_change" in _actions(sessions)


def test_a_wrong_current_password_changes_nothing_and_counts_towards_the_lockout(
    app: TestClient, username: str, sessions: sessionmaker[Session]
) -> None:
    browser, csrf = _signed_in(app, username)
    for _ in range(3):
        response = _change(browser, csrf, "not my password at all", NEW)
        assert response.status_code == 403, response.text
        assert "current password is wrong" in response.json()["detail"]
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        assert user.locked_until is not None
    assert _change(browser, csrf, OLD, NEW).status_code == 403  # locked: even the right one
    assert "session.login.locked" in _actions(sessions)


@pytest.mark.parametrize(("new", "reason"), [
    ("short", "at least 12 characters"),
    ("password123456", "too common"),
    (OLD, "must differ"),
])
def test_a_weak_or_unchanged_new_password_is_refused(
    new: str, reason: str, app: TestClient, username: str
) -> None:
    browser, csrf = _signed_in(app, username)
    response = _change(browser, csrf, OLD, new)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert _signed_in(app, username, OLD)  # the old password still works


def test_an_api_token_cannot_change_the_password(
    app: TestClient, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        token = factories.token_for(session, factories.user(session, Role.caseworker))
    response = app.post("/api/v1/auth/password", headers=bearer(token),
                        json={"current_password": OLD, "new_password": NEW})
    assert response.status_code == 422, response.text
    assert "dashboard session" in response.json()["detail"]


def test_an_administrators_reset_clears_the_lockout_and_ends_every_session(
    app: TestClient, username: str, sessions: sessionmaker[Session]
) -> None:
    browser, _ = _signed_in(app, username)
    with transaction(sessions) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        user.failed_logins, user.locked_until = 2, utcnow()
        assert account.reset_password(session, principal=SYSTEM, user=user, new=NEW,
                                      now=utcnow()) == 1
    assert browser.get("/api/v1/auth/session").status_code == 401
    assert _signed_in(app, username, NEW)
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        assert (user.failed_logins, user.locked_until) == (0, None)
        open_ = session.scalars(select(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None))).all()
        assert len(open_) == 1  # the sign-in just above
    assert "user.password_reset" in _actions(sessions)


def test_after_a_reset_the_account_may_only_choose_its_own_password(
    app: TestClient, username: str, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        account.reset_password(session, principal=SYSTEM, user=user, new=NEW, now=utcnow())
    browser, csrf = _signed_in(app, username, NEW)
    assert browser.get("/api/v1/auth/session").json()["password_change_required"] is True
    refused = browser.get("/api/v1/subjects")
    assert refused.status_code == 403 and "choose a new one" in refused.json()["detail"]
    for page in ("/", "/caseload", "/totp-setup"):
        moved = browser.get(page, follow_redirects=False)
        assert (moved.status_code, moved.headers["location"]) == (303, "/account"), page
    assert "An administrator reset your password" in browser.get("/account").text
    assert _change(browser, csrf, NEW, NEW).status_code == 422  # the administrator knows it
    assert _change(browser, csrf, NEW, OLD + " mine").status_code == 200
    assert browser.get("/api/v1/auth/session").json()["password_change_required"] is False
    assert browser.get("/api/v1/subjects").status_code == 200
    assert browser.get("/", follow_redirects=False).headers["location"] != "/account"


def test_openem_users_reset_password_asks_twice_and_sets_it(
    app: TestClient, username: str, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, sessions: sessionmaker[Session],
) -> None:
    answers: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": answers.pop(0))
    env = {"OPENEM_DATABASE_URL": database_url, "OPENEM_DATA_DIR": str(tmp_path)}
    command = ["users", "reset-password", "--username"]
    get_settings.cache_clear()
    try:
        answers[:] = [NEW, NEW + "x"]
        differ = CliRunner().invoke(cli, [*command, username], env=env)
        answers[:] = ["short", "short"]
        weak = CliRunner().invoke(cli, [*command, username], env=env)
        answers[:] = [NEW, NEW]
        unknown = CliRunner().invoke(cli, [*command, "nobody"], env=env)
        answers[:] = [NEW, NEW]
        done = CliRunner().invoke(cli, [*command, username], env=env)
    finally:
        get_settings.cache_clear()
    assert differ.exit_code == 1 and "differ" in differ.output
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    assert unknown.exit_code == 1 and "no such user" in unknown.output
    assert done.exit_code == 0, done.output
    assert _signed_in(app, username, NEW)
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        assert user.password_change_required

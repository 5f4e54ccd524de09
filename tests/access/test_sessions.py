"""Dashboard login: argon2id passwords, TOTP, cookies, CSRF, lockout and rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import AuditEntry, OrganisationKind, Role
from openem.access.passwords import WeakPassword, check_strength
from openem.app import create_app
from openem.config import Settings
from openem.crypto.envelope import generate_keyring, save_keyring
from openem.db.session import transaction
from tests.conftest import bearer
from tests.support import factories

PASSWORD = factories.PASSWORD
COOKIE = "openem_session"


@pytest.fixture
def http_settings(database_url: str, tmp_path: Path) -> Settings:
    """Local development over http://: the cookie cannot be Secure there."""
    return Settings(
        database_url=database_url,
        bus_url="memory://",
        data_dir=tmp_path,
        key_file=tmp_path / "master.key",
        session_cookie_secure=False,
        login_max_failures=3,
        login_rate_per_minute=50,
    )


@pytest.fixture
def web(http_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(http_settings)) as client:
        yield client


def _user(sessions: sessionmaker[Session], role: Role, **kwargs: object) -> str:
    with transaction(sessions) as session:
        kind = OrganisationKind.police if role == Role.police else OrganisationKind.home_office
        org = factories.organisation(session, kind)
        return factories.user(session, role, org=org, **kwargs).username  # type: ignore[arg-type]


def _login(client: TestClient, username: str, code: str | None = None, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    body = {"username": username, "password": password}
    if code:
        body["totp_code"] = code
    return client.post("/api/v1/auth/login", json=body)


def test_common_and_short_passwords_are_refused() -> None:
    for weak in ("short", "password123456", "qwertyqwertyqwerty", "aaaaaaaaaaaaaaa"):
        with pytest.raises(WeakPassword):
            check_strength(weak)
    check_strength("violet tractor seventeen lamps")


def test_login_sets_a_strict_httponly_cookie_and_session_works_for_reads(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    username = _user(sessions, Role.caseworker)
    response = _login(web, username)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert web.get("/api/v1/subjects").status_code == 200
    assert web.get("/api/v1/auth/session").json()["username"] == username


def test_production_cookie_is_secure_with_host_prefix(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    response = _login(client, _user(sessions, Role.caseworker))
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-openem_session=") and "Secure" in cookie


def test_unsafe_request_with_cookie_but_without_csrf_token_is_refused_and_audited(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    csrf = _login(web, _user(sessions, Role.caseworker)).json()["csrf_token"]
    body = factories.subject_data()
    refused = web.post("/api/v1/subjects", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = web.post("/api/v1/subjects", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    created = web.post("/api/v1/subjects", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    with sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.outcome == "refused")
        ).all()
    assert actions.count("authenticate.csrf") == 2


def test_forged_and_replayed_session_cookies_are_refused(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    login = _login(web, _user(sessions, Role.caseworker))
    secret = web.cookies[COOKIE]
    csrf = login.json()["csrf_token"]
    web.cookies.clear()
    web.cookies.set(COOKIE, "forged-" + secret[7:])
    assert web.get("/api/v1/subjects").status_code == 401
    web.cookies.set(COOKIE, secret)
    assert web.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    web.cookies.set(COOKIE, secret)  # replayed after logout
    assert web.get("/api/v1/subjects").status_code == 401


def test_lockout_after_repeated_failures_refuses_even_the_right_password(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    username = _user(sessions, Role.caseworker)
    for _ in range(3):
        assert _login(web, username, password="wrong password!!").status_code == 401
    locked = _login(web, username)
    assert locked.status_code == 401
    assert locked.json()["detail"] == _login(web, "nobody-at-all").json()["detail"]
    with sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "session.login.locked" in actions and "session.login.while_locked" in actions


def test_login_attempts_are_rate_limited_per_client(
    database_url: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        key_file=tmp_path / "k",
        session_cookie_secure=False,
        login_rate_per_minute=2,
    )
    with TestClient(create_app(settings)) as web:
        codes = [_login(web, "someone").status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def test_totp_is_mandatory_for_police_approvers_and_admins(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    username = _user(sessions, Role.police)
    login = _login(web, username)
    assert login.status_code == 200 and login.json()["totp_setup_required"]
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    blocked = web.get("/api/v1/police-requests")
    assert blocked.status_code == 403 and "TOTP" in blocked.json()["detail"]
    secret = web.post("/api/v1/auth/totp/enrolment", headers=csrf).json()["secret"]
    totp = pyotp.TOTP(secret)
    bad = web.post("/api/v1/auth/totp/confirmation", json={"code": "000000"}, headers=csrf)
    assert bad.status_code == 422
    confirmed = web.post("/api/v1/auth/totp/confirmation", json={"code": totp.now()}, headers=csrf)
    assert confirmed.status_code == 200 and not confirmed.json()["totp_setup_required"]
    assert web.get("/api/v1/police-requests").status_code == 200
    # from now on the code is needed to log in, and a used code cannot be replayed
    web.cookies.clear()
    assert _login(web, username).status_code == 401
    assert _login(web, username, code=totp.now()).status_code == 401  # replay of that step
    next_step = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    assert _login(web, username, code=next_step).status_code == 200


def test_a_second_factor_that_cannot_be_read_refuses_sign_in_until_an_admin_resets_it(
    web: TestClient,
    sessions: sessionmaker[Session],
    http_settings: Settings,
    staff_tokens: dict[str, str],
) -> None:
    username = _user(sessions, Role.police)
    csrf = {"X-CSRF-Token": _login(web, username).json()["csrf_token"]}
    totp = pyotp.TOTP(web.post("/api/v1/auth/totp/enrolment", headers=csrf).json()["secret"])
    user = web.post("/api/v1/auth/totp/confirmation", json={"code": totp.now()}, headers=csrf)
    user_id = user.json()["user_id"]
    web.cookies.clear()
    save_keyring(generate_keyring(), http_settings.key_file)  # the master key is lost
    next_step = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    assert _login(web, username, code=next_step).status_code == 401  # not a server error
    reset = f"/api/v1/users/{user_id}/totp/reset"
    assert web.post(reset, headers=bearer(staff_tokens["supervisor"])).status_code == 403
    done = web.post(reset, headers=bearer(staff_tokens["admin"]))
    assert done.status_code == 200 and done.json()["totp_enabled_at"] is None
    assert web.post(reset, headers=bearer(staff_tokens["admin"])).status_code == 409
    again = _login(web, username)
    assert again.status_code == 200 and again.json()["totp_setup_required"]
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "totp.reset")).one()
        assert entry.record_id == user_id


def test_api_tokens_are_scoped_expiring_and_revocable(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    owner = bearer(staff_tokens["caseworker"])
    too_broad = client.post(
        "/api/v1/tokens", json={"label": "x", "scopes": ["audit:read"]}, headers=owner
    )
    assert too_broad.status_code == 422
    issued = client.post(
        "/api/v1/tokens",
        json={"label": "reader", "scopes": ["subjects:read"], "ttl_days": 1},
        headers=owner,
    )
    assert issued.status_code == 201, issued.text
    scoped = bearer(issued.json()["secret"])
    assert client.get("/api/v1/subjects", headers=scoped).status_code == 200
    assert client.get("/api/v1/orders", headers=scoped).status_code == 403
    listed = client.get("/api/v1/tokens", headers=owner).json()
    assert issued.json()["id"] in {t["id"] for t in listed}
    assert "secret" not in listed[0]
    other = bearer(staff_tokens["operator"])
    assert client.delete(f"/api/v1/tokens/{issued.json()['id']}", headers=other).status_code == 404
    revoked = client.delete(f"/api/v1/tokens/{issued.json()['id']}", headers=owner)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/api/v1/subjects", headers=scoped).status_code == 401

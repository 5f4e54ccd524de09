"""OpenID Connect sign-in against an in-process fake identity provider (no network).

The fake serves discovery, a JWKS with a freshly generated RSA key and a token endpoint
that checks the PKCE verifier and the client secret, then signs an ID token. The test
plays the browser: it follows OpenEM's redirect to the provider's authorisation URL by
asking the fake for a code, then comes back to the callback.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pyotp
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from openem.access.models import AuditEntry, OrganisationKind, Role, User
from openem.app import create_app
from openem.config import Settings
from openem.crypto.envelope import generate_keyring, save_keyring
from openem.db.session import transaction
from tests.support import factories

ISSUER = "https://idp.example.test"
CLIENT_ID = "openem-test"
CLIENT_SECRET = "fake-idp-client-secret"
REDIRECT = "http://testserver/api/v1/auth/oidc/callback"
SESSION_COOKIE = "openem_session"

# A route each role may use once fully signed in (proves the session is a real one).
STAFF_ROUTE = {
    Role.caseworker: "/api/v1/subjects",
    Role.police: "/api/v1/police-requests",
    Role.approver: "/api/v1/police-requests",
    Role.admin: "/api/v1/users",
}


class FakeIdP:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, _request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, _request: Request) -> JSONResponse:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    def authorize(
        self, location: str, *, signing_key: RSAKey | None = None, **claims: Any
    ) -> tuple[str, str]:
        """What the provider does when the user signs in there: a code for the callback."""
        assert location.startswith(f"{ISSUER}/authorize?")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["response_type"] == "code"
        assert query["client_id"] == CLIENT_ID
        assert query["redirect_uri"] == REDIRECT
        assert "openid" in query["scope"].split()
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": query["nonce"],
            "challenge": query["code_challenge"],
            "claims": claims,
            "key": signing_key or self.key,
        }
        return code, query["state"]

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        entry = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if entry is None or digest.decode().rstrip("=") != entry["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "idp-subject-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": entry["nonce"],
        }
        claims.update(entry["claims"])
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, entry["key"])
        return JSONResponse(
            {
                "access_token": "fake-access",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )


def _settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    save_keyring(generate_keyring(), tmp_path / "keys" / "master.key", exclusive=True)
    values: dict[str, Any] = {
        "database_url": database_url,
        "bus_url": "memory://",
        "data_dir": tmp_path,
        "key_file": tmp_path / "keys" / "master.key",
        "session_cookie_secure": False,  # http://testserver
        "login_rate_per_minute": 100,
        "purge_schedule": False,
        "oidc_issuer": ISSUER,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_redirect_url": REDIRECT,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


def _client(settings: Settings, idp: FakeIdP) -> TestClient:
    app = create_app(settings)
    app.state.oidc_transport = httpx2.ASGITransport(app=idp.app)
    return TestClient(app)


@pytest.fixture
def web(database_url: str, tmp_path: Path, idp: FakeIdP) -> Iterator[TestClient]:
    with _client(_settings(database_url, tmp_path), idp) as client:
        yield client


@pytest.fixture
def trusting(database_url: str, tmp_path: Path, idp: FakeIdP) -> Iterator[TestClient]:
    with _client(_settings(database_url, tmp_path, oidc_trust_mfa=True), idp) as client:
        yield client


def _user(
    sessions: sessionmaker[Session], role: Role, *, totp: bool = False, active: bool = True
) -> tuple[str, str | None]:
    """A committed user: (username, TOTP secret when enrolled)."""
    with transaction(sessions) as session:
        kind = OrganisationKind.police if role == Role.police else OrganisationKind.home_office
        user = factories.user(session, role, org=factories.organisation(session, kind))
        user.active = active
        if totp:
            user.totp_secret = pyotp.random_base32()
            user.totp_enabled_at = datetime.now(UTC)
        return user.username, user.totp_secret


def _sign_in(client: TestClient, idp: FakeIdP, **claims: Any) -> httpx2.Response:
    start = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 302, start.text
    code, state = idp.authorize(start.headers["location"], **claims)
    return client.get(
        "/api/v1/auth/oidc/callback",
        params={"code": code, "state": state},
        follow_redirects=False,
    )


def _actions(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.execute(select(AuditEntry.action, AuditEntry.outcome)).all()
    return [(action, str(outcome)) for action, outcome in rows]


def test_oidc_is_off_by_default(client: TestClient) -> None:
    assert Settings().oidc_enabled is False
    assert client.get("/api/v1/auth/oidc/login", follow_redirects=False).status_code == 404
    assert client.get("/api/v1/auth/oidc/callback?code=x&state=y").status_code == 404
    assert client.post("/api/v1/auth/oidc/totp", json={"code": "123456"}).status_code == 404


def test_an_issuer_without_client_id_or_redirect_url_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="OPENEM_OIDC_CLIENT_ID"):
        Settings(oidc_issuer=ISSUER)


def test_login_redirects_with_state_nonce_and_pkce_in_a_sealed_cookie(web: TestClient) -> None:
    start = web.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert {"state", "nonce", "code_challenge"} <= query.keys()
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("openem_oidc_flow=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/api/v1/auth/oidc" in cookie
    for value in (query["state"][0], query["nonce"][0]):
        assert value not in cookie  # sealed, not merely signed


def test_full_login_opens_the_same_session_as_password_login(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session]
) -> None:
    username, _ = _user(sessions, Role.caseworker)
    response = _sign_in(web, idp, preferred_username=username)
    assert response.status_code == 200, response.text
    session_cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    assert "Path=/;" in session_cookie or session_cookie.endswith("Path=/")
    assert web.get("/api/v1/subjects").status_code == 200
    me = web.get("/api/v1/auth/session").json()
    assert me["username"] == username and me["totp_setup_required"] is False
    # the session ends at logout like any other (with its CSRF token)
    csrf = {"X-CSRF-Token": me["csrf_token"]}
    assert web.post("/api/v1/auth/logout", headers=csrf).status_code == 204
    assert web.get("/api/v1/subjects").status_code == 401
    assert ("session.login.oidc", "allowed") in _actions(sessions)


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "not-the-nonce-we-sent"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"aud": "some-other-client"},
        {"aud": "some-other-client", "azp": CLIENT_ID},
        {"iss": "https://impostor.example.test"},
    ],
    ids=["wrong-nonce", "expired", "wrong-audience", "wrong-audience-with-azp", "wrong-issuer"],
)
def test_an_id_token_that_does_not_validate_is_refused(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session], claims: dict[str, Any]
) -> None:
    username, _ = _user(sessions, Role.caseworker)
    response = _sign_in(web, idp, preferred_username=username, **claims)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert username not in response.text
    assert SESSION_COOKIE not in web.cookies
    assert web.get("/api/v1/subjects").status_code == 401
    assert ("session.login.oidc", "refused") in _actions(sessions)


def test_a_token_signed_by_another_key_is_refused(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session]
) -> None:
    username, _ = _user(sessions, Role.caseworker)
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    response = _sign_in(web, idp, preferred_username=username, signing_key=forger)
    assert response.status_code == 401


def test_a_callback_without_its_flow_cookie_or_with_another_state_is_refused(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session]
) -> None:
    username, _ = _user(sessions, Role.caseworker)
    start = web.get("/api/v1/auth/oidc/login", follow_redirects=False)
    code, _state = idp.authorize(start.headers["location"], preferred_username=username)
    wrong = web.get("/api/v1/auth/oidc/callback", params={"code": code, "state": "forged"})
    assert wrong.status_code == 401
    web.cookies.clear()
    code, state = idp.authorize(start.headers["location"], preferred_username=username)
    lost = web.get("/api/v1/auth/oidc/callback", params={"code": code, "state": state})
    assert lost.status_code == 401
    provider_error = web.get("/api/v1/auth/oidc/callback", params={"error": "access_denied"})
    assert provider_error.status_code == 401


def test_unknown_and_deactivated_users_are_refused_and_never_created(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session]
) -> None:
    inactive, _ = _user(sessions, Role.caseworker, active=False)
    for username in ("nobody-here", inactive):
        response = _sign_in(web, idp, preferred_username=username)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert username not in response.text
    with sessions() as session:
        assert session.scalar(select(User).where(User.username == "nobody-here")) is None
    missing_claim = _sign_in(web, idp)
    assert missing_claim.status_code == 401


def test_the_username_claim_is_configurable(
    database_url: str, tmp_path: Path, idp: FakeIdP, sessions: sessionmaker[Session]
) -> None:
    username, _ = _user(sessions, Role.caseworker)
    settings = _settings(database_url, tmp_path, oidc_username_claim="upn")
    with _client(settings, idp) as client:
        assert _sign_in(client, idp, preferred_username="nobody", upn=username).status_code == 200
        assert client.get("/api/v1/subjects").status_code == 200


MFA_ROLES = [Role.police, Role.approver, Role.admin]


@pytest.mark.parametrize("role", MFA_ROLES)
def test_without_trust_the_provider_mfa_does_not_replace_totp(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session], role: Role
) -> None:
    username, secret = _user(sessions, role, totp=True)
    assert secret is not None
    response = _sign_in(web, idp, preferred_username=username, amr=["pwd", "mfa"])
    assert response.status_code == 200
    assert SESSION_COOKIE not in web.cookies
    assert "openem_oidc_totp" in web.cookies
    assert web.get(STAFF_ROUTE[role]).status_code == 401
    wrong = web.post("/api/v1/auth/oidc/totp", json={"code": "000000"})
    assert wrong.status_code == 401
    done = web.post("/api/v1/auth/oidc/totp", json={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text
    assert done.json()["totp_setup_required"] is False
    assert web.get(STAFF_ROUTE[role]).status_code == 200


@pytest.mark.parametrize("role", MFA_ROLES)
def test_trusted_provider_mfa_satisfies_totp_only_when_amr_says_so(
    trusting: TestClient, idp: FakeIdP, sessions: sessionmaker[Session], role: Role
) -> None:
    username, _ = _user(sessions, role, totp=True)
    weak = _sign_in(trusting, idp, preferred_username=username, amr=["pwd"])
    assert weak.status_code == 200
    assert SESSION_COOKIE not in trusting.cookies  # TOTP still due
    assert trusting.get(STAFF_ROUTE[role]).status_code == 401
    strong = _sign_in(trusting, idp, preferred_username=username, amr=["pwd", "otp"])
    assert strong.status_code == 200
    assert trusting.get(STAFF_ROUTE[role]).status_code == 200
    assert trusting.get("/api/v1/auth/session").json()["totp_setup_required"] is False


@pytest.mark.parametrize("role", MFA_ROLES)
def test_a_mandatory_totp_user_without_totp_gets_the_set_up_only_session(
    web: TestClient, idp: FakeIdP, sessions: sessionmaker[Session], role: Role
) -> None:
    username, _ = _user(sessions, role)
    response = _sign_in(web, idp, preferred_username=username, amr=["pwd", "mfa"])
    assert response.status_code == 200
    assert web.get("/api/v1/auth/session").json()["totp_setup_required"] is True
    assert web.get(STAFF_ROUTE[role]).status_code == 403


def test_a_totp_step_without_the_provider_step_is_refused(web: TestClient) -> None:
    assert web.post("/api/v1/auth/oidc/totp", json={"code": "123456"}).status_code == 401


def test_the_login_page_offers_the_provider_only_when_enabled(
    web: TestClient, client: TestClient
) -> None:
    assert 'href="/api/v1/auth/oidc/login"' in web.get("/login").text
    assert "oidc-totp-form" in web.get("/login?oidc=totp").text
    assert "/api/v1/auth/oidc/login" not in client.get("/login").text
    assert "oidc-totp-form" not in client.get("/login?oidc=totp").text

"""Every staff API route needs an authenticated caller; roles the policy denies get 403."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openem.access.models import Role
from openem.access.tokens import issue_token, revoke_token
from openem.app import create_app
from openem.config import Settings
from tests.conftest import app_settings, bearer, empty_postgres
from tests.support import factories
from tests.support.routes import is_public, staff_routes

FAKE_ID = "00000000-0000-0000-0000-000000000001"


def _staff_routes() -> list[APIRoute]:
    return staff_routes()


def _api_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in _staff_routes()
        if not is_public(route)
        for method in route.methods
    )


API_ROUTES = _api_routes()


def test_the_staff_api_has_routes_to_check() -> None:
    assert len(API_ROUTES) >= 15


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def anonymous_client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One app per database for all the unauthenticated calls below.

    Each is refused before any handler runs, so they share an app rather than build one
    each (FastAPI prepares an app's ~170 routes on its first request: ~0.2 s a test)."""
    folder = tmp_path_factory.mktemp("anonymous")
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "openem.db")
        url = f"sqlite:///{folder / 'openem.db'}"
        with TestClient(create_app(app_settings(url, folder))) as client:
            yield client
        return
    url = request.getfixturevalue("postgres_url")
    cleaner = request.getfixturevalue("postgres_cleaner")
    try:
        with TestClient(create_app(app_settings(url, folder))) as client:
            yield client
    finally:
        empty_postgres(cleaner)


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_every_api_route_refuses_unauthenticated_calls(
    anonymous_client: TestClient, method: str, path: str
) -> None:
    url = re.sub(r"\{[^}]+\}", FAKE_ID, path)
    response = anonymous_client.request(method, url, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_token_is_refused(client: TestClient) -> None:
    response = client.get("/api/v1/subjects", headers=bearer("oem_not-a-real-token"))
    assert response.status_code == 401


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():
        user = factories.user(session, Role.caseworker)
        past = datetime.now(UTC) - timedelta(days=100)
        expired = issue_token(
            session, user=user, label="old", now=past, ttl=timedelta(days=1)
        ).secret
        revoked = issue_token(session, user=user, label="gone", now=datetime.now(UTC))
        revoke_token(session, token=revoked.token, now=datetime.now(UTC))
        good = factories.token_for(session, user)
    assert client.get("/api/v1/subjects", headers=bearer(expired)).status_code == 401
    assert client.get("/api/v1/subjects", headers=bearer(revoked.secret)).status_code == 401
    assert client.get("/api/v1/subjects", headers=bearer(good)).status_code == 200


def test_a_role_the_policy_does_not_allow_is_forbidden(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    police = bearer(staff_tokens["police"])
    response = client.get("/api/v1/subjects", headers=police)
    assert response.status_code == 403
    assert "subjects:read" in response.json()["detail"]
    created = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=bearer(staff_tokens["auditor"])
    )
    assert created.status_code == 403


def test_every_api_route_declares_a_permission() -> None:
    for route in _staff_routes():
        permissions = [
            getattr(dep.call, "permission", None) for dep in route.dependant.dependencies
        ]
        assert any(permissions), f"{route.path} declares no permission"


def test_every_api_path_in_the_openapi_schema_is_checked() -> None:
    schema_paths = {
        path for path in create_app(Settings()).openapi()["paths"] if path.startswith("/api/")
    }
    assert schema_paths == {route.path for route in _staff_routes()}

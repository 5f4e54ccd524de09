"""Dashboard test helpers: a browser-like client with a real session cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openem.access import sessions
from openem.access.models import User


def log_in(client: TestClient, sessions_factory: sessionmaker[Session], user_id: object) -> str:
    """Open a session for the user as the login route would; returns its CSRF token."""
    with sessions_factory() as session, session.begin():
        user = session.get(User, user_id)
        assert user is not None
        opened = sessions.open_session(
            session,
            user=user,
            mfa_done=True,
            now=datetime.now(UTC),
            max_age=timedelta(hours=1),
            source="testclient",
        )
        csrf = opened.row.csrf_token
    client.cookies.set(sessions.cookie_name(secure=False), opened.secret)
    return csrf

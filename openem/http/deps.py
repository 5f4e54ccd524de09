"""Request-scoped dependencies: the database session and the authenticated principal.

No ``from __future__ import annotations`` here: FastAPI must see the real types of the
closures built by ``requires``.

A caller authenticates with a bearer API token or with the dashboard session
cookie. Requests made with the cookie that change state must carry the
session's CSRF token. Routes declare the permission they need with
``requires("name")``; the policy (openem.access.policy) decides.
"""

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from openem.access import audit, sessions
from openem.access.policy import PermissionDenied, allows
from openem.access.principal import Principal
from openem.access.tokens import authenticate_token
from openem.config import Settings
from openem.crypto.envelope import KeyRing, load_keyring
from openem.db.base import utcnow
from openem.db.session import run_deferred
from openem.errors import Forbidden, Unauthorised

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent; refusals recorded
    during the request are written afterwards in their own transaction."""
    with request.app.state.sessions() as session:
        try:
            with session.begin():
                yield session
        finally:
            run_deferred(session)


DbSession = Annotated[Session, Depends(get_session, scope="function")]


class BearerRequired(Unauthorised):
    pass


class CsrfFailed(Forbidden):
    pass


class TotpSetupRequired(Forbidden):
    pass


class PasswordChangeRequired(Forbidden):
    pass


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def keyring_of(request: Request) -> KeyRing:
    """The master keys (``OPENEM_KEY_FILE``; created on first use, as for sealed blobs)."""
    return load_keyring(settings_of(request).key_file, create=True)


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token from the header, or from the form field of a form post."""
    header = request.headers.get(sessions.CSRF_HEADER)
    if header or request.method in SAFE_METHODS:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(sessions.CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _refuse(session: Session, request: Request, action: str) -> None:
    audit.refuse(
        session,
        principal=None,
        action=action,
        record_type="credential",
        source=client_address(request),
    )


def _from_token(request: Request, session: Session, secret: str) -> Principal:
    principal = authenticate_token(
        session, secret=secret, now=utcnow(), source=client_address(request)
    )
    if principal is None:
        _refuse(session, request, "authenticate.token")
        raise BearerRequired("the API token is unknown, expired or revoked")
    return principal


def _from_cookie(
    request: Request, session: Session, secret: str, csrf: str | None, allow_setup: bool
) -> Principal:
    settings = settings_of(request)
    now = utcnow()
    row = sessions.find_live(
        session, secret=secret, now=now, idle=timedelta(minutes=settings.session_idle_minutes)
    )
    if row is None:
        _refuse(session, request, "authenticate.session")
        raise Unauthorised("the session is unknown, expired or ended: log in again")
    principal = sessions.principal_for(row, source=client_address(request))
    if request.method not in SAFE_METHODS and not sessions.csrf_matches(row, csrf):
        audit.refuse(
            session,
            principal=principal,
            action="authenticate.csrf",
            record_type="staff_session",
            record_id=row.id,
        )
        raise CsrfFailed("the CSRF token is missing or wrong")
    if not allow_setup and sessions.password_change_due(row):
        raise PasswordChangeRequired("your password was reset: choose a new one first")
    if not allow_setup and sessions.mfa_pending(row):
        raise TotpSetupRequired("your role needs TOTP: set it up before using OpenEM")
    sessions.touch(row, now=now)
    return principal


def _authenticate(
    request: Request, session: Session, csrf: str | None, *, allow_setup: bool
) -> Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise BearerRequired("authentication required: send a bearer API token")
        return _from_token(request, session, secret.strip())
    name = sessions.cookie_name(secure=settings_of(request).session_cookie_secure)
    cookie = request.cookies.get(name)
    if cookie:
        return _from_cookie(request, session, cookie, csrf, allow_setup)
    raise BearerRequired("authentication required: send a bearer API token or log in")


Csrf = Annotated[str | None, Depends(presented_csrf)]


def authenticated(request: Request, session: DbSession, csrf: Csrf) -> Principal:
    return _authenticate(request, session, csrf, allow_setup=False)


def authenticated_setup(request: Request, session: DbSession, csrf: Csrf) -> Principal:
    """Also accepts a session whose TOTP set-up or password change is still due (for the
    set-up routes)."""
    return _authenticate(request, session, csrf, allow_setup=True)


def requires(permission: str, *, during_setup: bool = False) -> Callable[..., Principal]:
    """Route dependency declaring the permission a route needs; the policy decides.

    A refusal is audited (in its own transaction) and answered 403.
    """
    authenticate = authenticated_setup if during_setup else authenticated

    def dependency(
        principal: Annotated[Principal, Depends(authenticate)], session: DbSession
    ) -> Principal:
        if not allows(principal, permission):
            audit.refuse(
                session,
                principal=principal,
                action=f"permission.{permission}",
                record_type="route",
            )
            raise PermissionDenied(permission)
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def public(permission: str) -> Callable[..., Awaitable[None]]:
    """Route dependency for the few routes anyone may call (login); still a declared policy."""

    async def dependency() -> None:
        return None

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency

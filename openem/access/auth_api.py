"""Staff API: dashboard login and logout, TOTP set-up, the caller's API tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from openem.access import account, sessions, tokens, totp
from openem.access import login as login_service
from openem.access.auth_schemas import (
    LoginIn,
    PasswordChangedOut,
    PasswordChangeIn,
    SessionOut,
    TokenCreate,
    TokenIssuedOut,
    TokenOut,
    TotpConfirmIn,
    TotpEnrolmentOut,
)
from openem.access.models import ApiToken, StaffSession, User
from openem.access.principal import Principal
from openem.config import Settings
from openem.db.base import utcnow
from openem.errors import Invalid
from openem.http.deps import (
    DbSession,
    client_address,
    keyring_of,
    public,
    requires,
    settings_of,
)
from openem.http.ratelimit import RateLimiter, client_key

router = APIRouter(prefix="/api/v1", tags=["authentication"])

Self = Annotated[Principal, Depends(requires("account:self", during_setup=True))]
OwnTokens = Annotated[Principal, Depends(requires("tokens:own"))]


def login_limiter(request: Request) -> RateLimiter:
    """Login attempts per client, counted in the database (so across processes)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "login_limiter", None)
    if limiter is None:
        limiter = state.login_limiter = RateLimiter(
            state.sessions, name="login",
            limit=settings_of(request).login_rate_per_minute, period=timedelta(minutes=1),
        )
    return limiter


def login_rules(settings: Settings) -> login_service.LoginRules:
    return login_service.LoginRules(
        max_failures=settings.login_max_failures,
        lockout=timedelta(minutes=settings.login_lockout_minutes),
        max_age=timedelta(hours=settings.session_max_hours),
    )


def set_session_cookie(response: Response, settings: Settings, secret: str) -> None:
    """The dashboard session cookie: the same flags however the user signed in."""
    secure = settings.session_cookie_secure
    response.set_cookie(
        sessions.cookie_name(secure=secure),
        secret,
        max_age=settings.session_max_hours * 3600,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def session_out(row: StaffSession, user: User) -> SessionOut:
    return SessionOut(
        user_id=user.id,
        username=user.username,
        role=user.role,
        organisation_id=user.organisation_id,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        totp_setup_required=sessions.mfa_pending(row),
        password_change_required=sessions.password_change_due(row),
    )


def _current(session: DbSession, principal: Principal) -> StaffSession:
    row = session.get(StaffSession, principal.session_id) if principal.session_id else None
    if row is None:
        raise Invalid("this route needs the dashboard session, not an API token")
    return row


@router.post(
    "/auth/login",
    response_model=SessionOut,
    dependencies=[Depends(public("session:create"))],
    responses={401: {"description": "Login refused"}, 429: {"description": "Too many attempts"}},
)
def login(data: LoginIn, request: Request, response: Response, session: DbSession) -> SessionOut:
    settings = settings_of(request)
    now = utcnow()
    login_limiter(request).hit(client_key(request), now=now)
    result = login_service.login(
        session,
        username=data.username,
        password=data.password,
        totp_code=data.totp_code,
        now=now,
        source=client_address(request),
        rules=login_rules(settings),
        keyring=keyring_of(request),
    )
    set_session_cookie(response, settings, result.opened.secret)
    return session_out(result.opened.row, result.user)


@router.get("/auth/session", response_model=SessionOut)
def current_session(session: DbSession, principal: Self) -> SessionOut:
    row = _current(session, principal)
    return session_out(row, row.user)


@router.post("/auth/logout", status_code=204)
def logout(session: DbSession, principal: Self, request: Request) -> Response:
    row = _current(session, principal)
    sessions.revoke(row, now=utcnow())
    response = Response(status_code=204)
    secure = settings_of(request).session_cookie_secure
    response.delete_cookie(
        sessions.cookie_name(secure=secure),
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/auth/totp/enrolment", status_code=201, response_model=TotpEnrolmentOut)
def enrol_totp(session: DbSession, principal: Self, request: Request) -> TotpEnrolmentOut:
    row = _current(session, principal)
    enrolment = totp.enrol(session, principal=principal, user=row.user, now=utcnow(),
                           keyring=keyring_of(request))
    return TotpEnrolmentOut(secret=enrolment.secret, provisioning_uri=enrolment.provisioning_uri)


@router.post("/auth/totp/confirmation", response_model=SessionOut)
def confirm_totp(
    data: TotpConfirmIn, session: DbSession, principal: Self, request: Request
) -> SessionOut:
    row = _current(session, principal)
    totp.confirm(session, principal=principal, user=row.user, code=data.code, now=utcnow(),
                 keyring=keyring_of(request))
    row.mfa_done = True
    return session_out(row, row.user)


@router.post("/tokens", status_code=201, response_model=TokenIssuedOut)
def issue_token(data: TokenCreate, session: DbSession, principal: OwnTokens) -> TokenIssuedOut:
    issued = tokens.issue_own(
        session,
        principal=principal,
        label=data.label,
        scopes=frozenset(data.scopes),
        ttl=timedelta(days=data.ttl_days),
        now=utcnow(),
    )
    out = TokenOut.model_validate(issued.token)
    return TokenIssuedOut(**out.model_dump(), secret=issued.secret)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(session: DbSession, principal: OwnTokens) -> list[ApiToken]:
    return tokens.list_own(session, principal=principal)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: uuid.UUID, session: DbSession, principal: OwnTokens) -> ApiToken:
    return tokens.revoke_own(session, principal=principal, token_id=token_id, now=utcnow())


@router.post("/auth/password", response_model=PasswordChangedOut)
def change_password(
    data: PasswordChangeIn, session: DbSession, principal: Self, request: Request
) -> PasswordChangedOut:
    """Change your own password with the current one (signed in to the dashboard, not with
    an API token); your other sessions end. After an administrator's reset, the one route
    open until it is done."""
    row = _current(session, principal)
    ended = account.change_password(
        session, principal=principal, user=row.user, current=data.current_password,
        new=data.new_password, now=utcnow(), rules=login_rules(settings_of(request)),
    )
    return PasswordChangedOut(other_sessions_ended=ended)

"""OpenID Connect sign-in routes (404 unless ``OPENEM_OIDC_ISSUER`` is set); see openem.access.oidc.

All three are public like the password login (``session:create``): the caller has no session
yet. They end in the same server-side session, with the same cookie, as the password login.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from openem.access import audit, oidc
from openem.access.auth_api import login_limiter, login_rules, session_out, set_session_cookie
from openem.access.auth_schemas import SessionOut, TotpConfirmIn
from openem.config import Settings
from openem.db.base import utcnow
from openem.http.deps import DbSession, client_address, keyring_of, public, settings_of
from openem.http.ratelimit import client_key

router = APIRouter(prefix="/api/v1/auth/oidc", tags=["authentication"])

PUBLIC = [Depends(public("session:create"))]
Responses = dict[int | str, dict[str, Any]]

OFF: Responses = {404: {"description": "OpenID Connect sign-in is not enabled"}}
PROVIDER: Responses = {502: {"description": "The identity provider could not be reached"}}
REFUSED: Responses = {
    401: {"description": "The provider's answer could not be verified"},
    403: {"description": "No active OpenEM account matches the identity"},
    429: {"description": "Too many attempts"},
}

# The provider redirects the browser here cross-site: a SameSite=Strict session cookie set on
# that response would not be sent on an HTTP redirect onwards, so a page moves on by itself.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenEM sign-in</title>
<meta http-equiv="refresh" content="0;url={url}"></head>
<body><p><a href="{url}">{text}</a></p></body></html>
"""


def _enabled(request: Request) -> Settings:
    settings = settings_of(request)
    if not settings.oidc_enabled:
        raise oidc.OidcDisabled()
    return settings


def _set(response: Response, settings: Settings, kind: str, value: str, max_age: int) -> None:
    secure = settings.session_cookie_secure
    response.set_cookie(
        oidc.cookie_name(kind, secure=secure),
        value,
        max_age=max_age,
        path=oidc.COOKIE_PATH,
        secure=secure,
        httponly=True,
        # The flow cookie must come back on the provider's top-level redirect (cross-site).
        samesite="lax" if kind == "flow" else "strict",
    )


def _clear(response: Response, settings: Settings, kind: str) -> None:
    secure = settings.session_cookie_secure
    response.delete_cookie(
        oidc.cookie_name(kind, secure=secure),
        path=oidc.COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="lax" if kind == "flow" else "strict",
    )


def _cookie(request: Request, settings: Settings, kind: str) -> str | None:
    return request.cookies.get(oidc.cookie_name(kind, secure=settings.session_cookie_secure))


@router.get(
    "/login",
    dependencies=PUBLIC,
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "Redirect to the identity provider"}, **OFF, **PROVIDER},
)
async def oidc_login(request: Request) -> Response:
    """Send the browser to the identity provider (state, nonce and PKCE in a sealed cookie)."""
    settings = _enabled(request)
    redirect = await oidc.start(oidc.client_for(request.app.state, settings), settings)
    response = RedirectResponse(redirect.url, status_code=302)
    sealed = oidc.seal(settings, kind="flow", data=redirect.flow, now=utcnow())
    _set(response, settings, "flow", sealed, int(oidc.FLOW_TTL.total_seconds()))
    return response


@router.get(
    "/callback",
    dependencies=PUBLIC,
    response_class=HTMLResponse,
    responses={
        200: {"description": "Signed in (or TOTP due): a page that moves on to the dashboard"},
        **OFF,
        **REFUSED,
        **PROVIDER,
    },
)
async def oidc_callback(
    request: Request,
    session: DbSession,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """Validate the provider's answer and open the dashboard session for the matching user."""
    settings = _enabled(request)
    now = utcnow()
    await run_in_threadpool(login_limiter(request).hit, client_key(request), now=now)
    source = client_address(request)
    flow = oidc.unseal(settings, kind="flow", value=_cookie(request, settings, "flow"), now=now)
    try:
        identity = await oidc.finish(
            oidc.client_for(request.app.state, settings),
            settings,
            flow=flow,
            code=code,
            state=state,
            error=error,
        )
    except oidc.OidcRefused:
        audit.refuse(
            session, principal=None, action=oidc.ACTION, record_type="credential", source=source
        )
        raise
    signed_in = await run_in_threadpool(
        oidc.sign_in,
        session,
        identity=identity,
        trust_mfa=settings.oidc_trust_mfa,
        now=now,
        source=source,
        rules=login_rules(settings),
    )
    if signed_in.logged_in is not None:
        response = HTMLResponse(PAGE.format(url="/", text="Continue to OpenEM"))
        set_session_cookie(response, settings, signed_in.logged_in.opened.secret)
    else:
        response = HTMLResponse(PAGE.format(url="/login?oidc=totp", text="Enter your TOTP code"))
        pending = {"user_id": str(signed_in.totp_due_for)}
        sealed = oidc.seal(settings, kind="totp", data=pending, now=now)
        _set(response, settings, "totp", sealed, int(oidc.TOTP_TTL.total_seconds()))
    _clear(response, settings, "flow")
    return response


@router.post(
    "/totp",
    dependencies=PUBLIC,
    response_model=SessionOut,
    responses={**OFF, **REFUSED},
)
def oidc_totp(
    data: TotpConfirmIn, request: Request, response: Response, session: DbSession
) -> SessionOut:
    """After the provider, for a role that needs TOTP: the code opens the session."""
    settings = _enabled(request)
    now = utcnow()
    login_limiter(request).hit(client_key(request), now=now)
    pending: dict[str, Any] | None = oidc.unseal(
        settings, kind="totp", value=_cookie(request, settings, "totp"), now=now
    )
    if pending is None:
        audit.refuse(
            session,
            principal=None,
            action=oidc.ACTION,
            record_type="credential",
            source=client_address(request),
        )
        raise oidc.OidcRefused()
    logged_in = oidc.complete_totp(
        session,
        user_id=uuid.UUID(str(pending["user_id"])),
        code=data.code,
        now=now,
        source=client_address(request),
        rules=login_rules(settings),
        keyring=keyring_of(request),
    )
    set_session_cookie(response, settings, logged_in.opened.secret)
    _clear(response, settings, "totp")
    return session_out(logged_in.opened.row, logged_in.user)

"""Who is viewing a dashboard page: the session cookie, authorised by the same policy as the API.

Pages never accept bearer tokens: a browser page is a session. Without a live session
the page answers with a redirect to ``/login``; a session whose password an administrator
reset goes to ``/account`` to choose a new one; one still waiting for TOTP set-up goes to
``/totp-setup``; a role the policy refuses gets a plain 403 page (audited).
"""

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from openem.access import audit, sessions
from openem.access.policy import allows
from openem.access.principal import Principal
from openem.db.base import utcnow
from openem.http.deps import DbSession, client_address, settings_of


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


# A filter form sends its empty fields and "any" options as empty values: not given.
BlankIsNone = BeforeValidator(_blank_is_none)


class LoginRequired(Exception):
    """No live session: send the browser to the login page."""


class TotpSetupDue(Exception):
    """The session may only set TOTP up."""


class PasswordChangeDue(Exception):
    """The session may only change the account's password."""


class PageForbidden(Exception):
    """The policy refuses this page to the viewer's role."""


class CsrfRejected(Exception):
    """A page form was posted without the session's CSRF token."""


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    csrf_token: str
    display_name: str
    totp_setup_required: bool = False
    password_change_required: bool = False

    @property
    def role(self) -> str:
        return self.principal.role

    def may(self, permission: str) -> bool:
        return allows(self.principal, permission)


def _viewer(request: Request, session: Session) -> Viewer:
    name = sessions.cookie_name(secure=settings_of(request).session_cookie_secure)
    cookie = request.cookies.get(name)
    if not cookie:
        raise LoginRequired
    row = sessions.find_live(
        session,
        secret=cookie,
        now=utcnow(),
        idle=timedelta(minutes=settings_of(request).session_idle_minutes),
    )
    if row is None:
        raise LoginRequired
    sessions.touch(row, now=utcnow())
    return Viewer(
        principal=sessions.principal_for(row, source=client_address(request)),
        csrf_token=row.csrf_token,
        display_name=row.user.display_name,
        totp_setup_required=sessions.mfa_pending(row),
        password_change_required=sessions.password_change_due(row),
    )


def setup_viewer(request: Request, session: DbSession) -> Viewer:
    """Any live session, including one whose TOTP set-up or password change is still due."""
    return _viewer(request, session)


def page(permission: str) -> Callable[..., Viewer]:
    """Page dependency declaring the permission the page needs; the policy decides."""

    def dependency(request: Request, session: DbSession) -> Viewer:
        viewer = _viewer(request, session)
        if viewer.password_change_required:
            raise PasswordChangeDue
        if viewer.totp_setup_required:
            raise TotpSetupDue
        if not allows(viewer.principal, permission):
            audit.refuse(
                session,
                principal=viewer.principal,
                action=f"permission.{permission}",
                record_type="page",
            )
            raise PageForbidden(permission)
        return viewer

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def check_csrf(viewer: Viewer, presented: str | None) -> None:
    """Page forms that change or search state carry the session's CSRF token."""
    if presented is None or not hmac.compare_digest(presented, viewer.csrf_token):
        raise CsrfRejected


AnyViewer = Annotated[Viewer, Depends(setup_viewer)]

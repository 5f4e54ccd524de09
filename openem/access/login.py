"""Password (+ TOTP) login for the dashboard, with per-account lockout.

Every refusal says the same thing ("login refused"), whether the username is
unknown, the password or code wrong, or the account locked, so the answer does
not tell an attacker which accounts exist. Failed attempts are counted (and
audited) in a transaction of their own, because the refused request's
transaction rolls back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from openem.access import audit, totp
from openem.access.models import User
from openem.access.passwords import dummy_hash, verify_password
from openem.access.policy import needs_mfa
from openem.access.principal import Principal
from openem.access.service import find_user_by_username
from openem.access.sessions import OpenedSession, open_session
from openem.crypto.envelope import KeyRing
from openem.db.session import defer
from openem.errors import Unauthorised


class LoginRefused(Unauthorised):
    def __init__(self) -> None:
        super().__init__("login refused: check the username, password and code")


@dataclass(frozen=True)
class LoginRules:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    max_age: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class LoggedIn:
    opened: OpenedSession
    user: User
    totp_setup_required: bool


def _principal(user: User, source: str | None) -> Principal:
    return Principal(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        team=user.team,
        source=source,
        organisation_kind=user.organisation.kind,
    )


def count_failure(
    own: Session, *, user_id: uuid.UUID, now: datetime, rules: LoginRules, source: str | None
) -> None:
    user = own.get(User, user_id)
    if user is None:
        return
    user.failed_logins += 1
    locked = user.failed_logins >= rules.max_failures
    if locked:
        user.locked_until = now + rules.lockout
        user.failed_logins = 0
    audit.record(
        own,
        principal=_principal(user, source),
        action="session.login.locked" if locked else "session.login",
        record_type="user",
        record_id=user.id,
        outcome=audit.Outcome.refused,
        at=now,
    )


def _refuse(
    session: Session, *, user: User | None, now: datetime, rules: LoginRules, source: str | None
) -> LoginRefused:
    if user is None:
        audit.refuse(
            session, principal=None, action="session.login", record_type="user", source=source
        )
    else:
        user_id = user.id
        defer(
            session,
            lambda own: count_failure(own, user_id=user_id, now=now, rules=rules, source=source),
        )
    return LoginRefused()


def login(
    session: Session,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    now: datetime,
    source: str | None,
    rules: LoginRules,
    keyring: KeyRing,
) -> LoggedIn:
    user = find_user_by_username(session, username=username)
    if user is None or not user.active:
        verify_password(dummy_hash(), password)
        raise _refuse(session, user=None, now=now, rules=rules, source=source)
    if locked(user, now=now):
        raise refuse_locked(session, user=user, source=source)
    if not verify_password(user.password_hash, password):
        raise _refuse(session, user=user, now=now, rules=rules, source=source)
    if totp.enrolled(user) and not (
        totp_code and totp.check_code(user, totp_code, now=now, keyring=keyring)
    ):
        raise _refuse(session, user=user, now=now, rules=rules, source=source)
    return complete_login(
        session, user=user, mfa_done=totp.enrolled(user), now=now, source=source, rules=rules
    )


def locked(user: User, *, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def refuse_locked(session: Session, *, user: User, source: str | None) -> LoginRefused:
    audit.refuse(
        session,
        principal=_principal(user, source),
        action="session.login.while_locked",
        record_type="user",
        record_id=user.id,
    )
    return LoginRefused()


def refuse_attempt(
    session: Session, *, user: User | None, now: datetime, rules: LoginRules, source: str | None
) -> LoginRefused:
    """Audit a refused sign-in (counting it against the account when there is one)."""
    return _refuse(session, user=user, now=now, rules=rules, source=source)


def complete_login(
    session: Session,
    *,
    user: User,
    mfa_done: bool,
    now: datetime,
    source: str | None,
    rules: LoginRules,
    action: str = "session.login",
) -> LoggedIn:
    """The user has proven who they are: reset the failure count, open and audit the session.

    ``mfa_done`` False for a role that needs TOTP gives a session that can only set TOTP up.
    """
    user.failed_logins = 0
    user.locked_until = None
    setup_required = needs_mfa(user.role) and not mfa_done
    opened = open_session(
        session, user=user, mfa_done=mfa_done, now=now, max_age=rules.max_age, source=source
    )
    audit.record(
        session,
        principal=_principal(user, source),
        action=action,
        record_type="staff_session",
        record_id=opened.row.id,
        at=now,
    )
    return LoggedIn(opened=opened, user=user, totp_setup_required=setup_required)

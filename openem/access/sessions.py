"""Dashboard sessions: server-side rows, a random secret in the cookie, only its hash stored.

A session ends when it is idle too long, at its absolute expiry, or at logout;
a forged, expired or replayed-after-logout cookie finds no live row. Each
session has its own CSRF token, which unsafe requests made with the cookie
must echo in the ``X-CSRF-Token`` header (or a ``csrf_token`` form field).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access.models import StaffSession, User
from openem.access.policy import needs_mfa
from openem.access.principal import Principal
from openem.crypto.digests import sha256_hex

COOKIE_SECURE = "__Host-openem_session"
COOKIE_PLAIN = "openem_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def cookie_name(*, secure: bool) -> str:
    """The ``__Host-`` prefix pins a Secure cookie to this host and path ``/``."""
    return COOKIE_SECURE if secure else COOKIE_PLAIN


@dataclass(frozen=True)
class OpenedSession:
    row: StaffSession
    secret: str


def open_session(
    session: Session,
    *,
    user: User,
    mfa_done: bool,
    now: datetime,
    max_age: timedelta,
    source: str | None,
) -> OpenedSession:
    secret = secrets.token_urlsafe(32)
    row = StaffSession(
        user_id=user.id,
        secret_hash=sha256_hex(secret),
        csrf_token=secrets.token_urlsafe(32),
        mfa_done=mfa_done,
        created_at=now,
        last_seen_at=now,
        expires_at=now + max_age,
        source=source,
    )
    session.add(row)
    session.flush()
    return OpenedSession(row=row, secret=secret)


def find_live(
    session: Session, *, secret: str, now: datetime, idle: timedelta
) -> StaffSession | None:
    row = session.scalar(select(StaffSession).where(StaffSession.secret_hash == sha256_hex(secret)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + idle <= now or not row.user.active:
        return None
    return row


def touch(row: StaffSession, *, now: datetime) -> None:
    # Only write when it matters, so reads do not rewrite the row on every request.
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now


def principal_for(row: StaffSession, *, source: str | None) -> Principal:
    user = row.user
    return Principal(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        team=user.team,
        source=source,
        organisation_kind=user.organisation.kind,
        session_id=row.id,
    )


def mfa_pending(row: StaffSession) -> bool:
    """A session of a role that needs TOTP, opened before TOTP was set up: enrolment only."""
    return needs_mfa(row.user.role) and not row.mfa_done


def password_change_due(row: StaffSession) -> bool:
    """The account's password was reset by an administrator: changing it is all it may do."""
    return row.user.password_change_required


def csrf_matches(row: StaffSession, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(row.csrf_token, presented)


def revoke(row: StaffSession, *, now: datetime) -> None:
    row.revoked_at = now


def revoke_all_for(
    session: Session, *, user_id: object, now: datetime, keep: object | None = None
) -> int:
    """End the user's open sessions (all but ``keep``, the one in use); how many."""
    rows = session.scalars(
        select(StaffSession).where(
            StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None)
        )
    )
    ended = 0
    for row in rows:
        if row.id != keep:
            row.revoked_at = now
            ended += 1
    return ended

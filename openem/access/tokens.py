"""API tokens for integrations: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access.models import ApiToken, User
from openem.access.principal import Principal

TOKEN_PREFIX = "oem_"
DEFAULT_TTL = timedelta(days=90)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User,
    label: str,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
    scopes: frozenset[str] = frozenset(),
) -> IssuedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        token_hash=_digest(secret),
        label=label,
        scopes=" ".join(sorted(scopes)),
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def authenticate_token(
    session: Session, *, secret: str, now: datetime, source: str | None = None
) -> Principal | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = token.user
    if not user.active:
        return None
    return Principal(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        team=user.team,
        scopes=frozenset(token.scopes.split()) if token.scopes else frozenset(),
        source=source,
    )


def revoke_token(session: Session, *, token: ApiToken, now: datetime) -> None:
    token.revoked_at = now

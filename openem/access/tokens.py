"""API tokens for integrations: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.models import ApiToken, Role, User
from openem.access.policy import PERMISSIONS, allows, require
from openem.access.principal import Principal
from openem.crypto.digests import sha256_hex
from openem.errors import Invalid, NotFound

TOKEN_PREFIX = "oem_"
DEFAULT_TTL = timedelta(days=90)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


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
        token_hash=sha256_hex(secret),
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
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(secret)))
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
        organisation_kind=user.organisation.kind,
    )


def revoke_token(session: Session, *, token: ApiToken, now: datetime) -> None:
    token.revoked_at = now


# --- self-service, through the API ---------------------------------------------------------

MAX_TTL = timedelta(days=365)


def issue_own(
    session: Session,
    *,
    principal: Principal,
    label: str,
    scopes: frozenset[str],
    ttl: timedelta,
    now: datetime,
) -> IssuedToken:
    """A token for the caller, scoped to permissions the caller's role holds (or all of them)."""
    require(principal, "tokens:own")
    unknown = sorted(scope for scope in scopes if scope not in PERMISSIONS)
    if unknown:
        raise Invalid("unknown scope: " + ", ".join(unknown), field="scopes")
    if any(not allows(principal, scope) for scope in scopes):
        raise Invalid("a token cannot hold a permission your role does not", field="scopes")
    if principal.scopes and not scopes:
        scopes = principal.scopes  # a scoped token cannot mint a broader one
    if ttl > MAX_TTL:
        raise Invalid("tokens live at most 365 days", field="ttl_days")
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFound("no such user")
    issued = issue_token(session, user=user, label=label, now=now, ttl=ttl, scopes=scopes)
    audit.record(
        session,
        principal=principal,
        action="token.issue",
        record_type="api_token",
        record_id=issued.token.id,
        at=now,
    )
    return issued


def list_own(session: Session, *, principal: Principal) -> list[ApiToken]:
    require(principal, "tokens:own")
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == principal.user_id)
            .order_by(ApiToken.created_at.desc())
            .limit(500)
        )
    )


def revoke_own(
    session: Session, *, principal: Principal, token_id: uuid.UUID, now: datetime
) -> ApiToken:
    """Revoke one of the caller's tokens (administrators: anyone's)."""
    from openem.access import audit

    require(principal, "tokens:own")
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != principal.user_id and principal.role != Role.admin):
        raise NotFound("no such token")
    if token.revoked_at is None:
        revoke_token(session, token=token, now=now)
    audit.record(
        session,
        principal=principal,
        action="token.revoke",
        record_type="api_token",
        record_id=token.id,
        at=now,
    )
    return token

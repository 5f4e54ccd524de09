"""TOTP second factor (RFC 6238, pyotp): enrol, confirm, verify without replay.

The shared secret is stored sealed (:mod:`openem.crypto.envelope`: AES-256-GCM under a
data key wrapped by the key file's master key, bound to the user's id), so a copy of the
database alone does not give anyone a second factor. A secret stored in the clear by an
earlier version still works, and is sealed the first time a code checks against it (or
at the next master-key rotation).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.models import User
from openem.access.principal import Principal
from openem.access.sessions import revoke_all_for
from openem.crypto.envelope import EnvelopeError, KeyRing, SealedBlob, open_, rewrap, seal
from openem.errors import Conflict, Invalid
from openem.logs import get_logger

log = get_logger(__name__)

ISSUER = "OpenEM"
VALID_WINDOW = 1  # accept the code of the previous and next 30-second step (clock drift)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str


def enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None


SEALED = "sealed:"


def _aad(user: User) -> bytes:
    return b"openem.totp:" + user.id.bytes


def _seal(user: User, secret: str, keyring: KeyRing) -> str:
    return _stored(seal(secret.encode(), aad=_aad(user), keyring=keyring))


def _stored(sealed: SealedBlob) -> str:
    return SEALED + base64.b64encode(sealed.to_bytes()).decode()


def _sealed(stored: str) -> SealedBlob | None:
    """The stored secret's envelope; None for a secret stored in the clear."""
    if not stored.startswith(SEALED):
        return None
    return SealedBlob.from_bytes(base64.b64decode(stored.removeprefix(SEALED)))


def secret_of(user: User, keyring: KeyRing) -> str | None:
    """The user's TOTP secret, opened; None if there is none."""
    if not user.totp_secret:
        return None
    sealed = _sealed(user.totp_secret)
    if sealed is None:
        return user.totp_secret
    return open_(sealed, aad=_aad(user), keyring=keyring).decode()


def _record(
    session: Session, principal: Principal, action: str, user: User, now: datetime
) -> None:
    audit.record(
        session, principal=principal, action=action, record_type="user", record_id=user.id, at=now
    )


def enrol(
    session: Session, *, principal: Principal, user: User, now: datetime, keyring: KeyRing
) -> Enrolment:
    """Start (or restart) enrolment: a new secret, active only once a code confirms it."""
    if enrolled(user):
        raise Conflict("TOTP is already set up for this account")
    secret = pyotp.random_base32()
    user.totp_secret = _seal(user, secret, keyring)
    user.totp_last_counter = None
    _record(session, principal, "totp.enrol", user, now)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret=secret, provisioning_uri=uri)


def check_code(user: User, code: str, *, now: datetime, keyring: KeyRing) -> bool:
    """True for a current code not used before; remembers the step so it cannot be replayed.

    A secret that cannot be opened (its master key is missing from the key file, or the
    stored value is damaged) checks no code: the sign-in is refused like a wrong code,
    and the error is logged for the administrators, who can restore the key file or
    reset the account's second factor (``openem users reset-totp``)."""
    try:
        secret = secret_of(user, keyring)
    except EnvelopeError as error:
        log.error("totp_secret_unreadable", user_id=str(user.id), reason=type(error).__name__)
        return False
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for counter in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(counter), code):
            if user.totp_last_counter is not None and counter <= user.totp_last_counter:
                return False
            user.totp_last_counter = counter
            if user.totp_secret == secret:  # stored in the clear by an earlier version
                user.totp_secret = _seal(user, secret, keyring)
            return True
    return False


def confirm(
    session: Session,
    *,
    principal: Principal,
    user: User,
    code: str,
    now: datetime,
    keyring: KeyRing,
) -> None:
    if enrolled(user):
        raise Conflict("TOTP is already set up for this account")
    if not user.totp_secret:
        raise Invalid("start TOTP enrolment first", field="code")
    if not check_code(user, code, now=now, keyring=keyring):
        raise Invalid("the code is not valid", field="code")
    user.totp_enabled_at = now
    _record(session, principal, "totp.confirm", user, now)


def reset(session: Session, *, principal: Principal, user: User, now: datetime) -> None:
    """Remove the account's second factor (a lost phone, an unreadable secret) and end its
    open sessions: the next sign-in takes the password alone, and a role that needs TOTP
    must enrol again."""
    if user.totp_secret is None and not enrolled(user):
        raise Conflict("TOTP is not set up for this account")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_counter = None
    revoke_all_for(session, user_id=user.id, now=now)  # a lost phone may hold one
    _record(session, principal, "totp.reset", user, now)


def reseal_secrets(session: Session, *, keyring: KeyRing) -> int:
    """Put every stored secret under ``keyring.primary`` (a new data key wrapped for a
    secret in the clear; the same data key re-wrapped for a sealed one); how many."""
    resealed = 0
    for user in session.scalars(select(User).where(User.totp_secret.is_not(None))):
        stored = user.totp_secret or ""
        sealed = _sealed(stored)
        if sealed is None:
            user.totp_secret = _seal(user, stored, keyring)
        elif sealed.key_id != keyring.primary:
            user.totp_secret = _stored(rewrap(sealed, keyring))
        else:
            continue
        resealed += 1
    return resealed


def secrets_not_under(session: Session, *, keyring: KeyRing) -> int:
    """How many stored secrets are in the clear or sealed under another master key."""
    stored = session.scalars(select(User.totp_secret).where(User.totp_secret.is_not(None)))
    return sum(
        1 for secret in stored
        if (sealed := _sealed(secret or "")) is None or sealed.key_id != keyring.primary
    )

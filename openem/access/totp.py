"""TOTP second factor (RFC 6238, pyotp): enrol, confirm, verify without replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.models import User
from openem.access.principal import Principal
from openem.errors import Conflict, Invalid

ISSUER = "OpenEM"
VALID_WINDOW = 1  # accept the code of the previous and next 30-second step (clock drift)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str


def enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None


def enrol(session: Session, *, principal: Principal, user: User, now: datetime) -> Enrolment:
    """Start (or restart) enrolment: a new secret, active only once a code confirms it."""
    if enrolled(user):
        raise Conflict("TOTP is already set up for this account")
    user.totp_secret = pyotp.random_base32()
    user.totp_last_counter = None
    audit.record(
        session,
        principal=principal,
        action="totp.enrol",
        record_type="user",
        record_id=user.id,
        at=now,
    )
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret=user.totp_secret, provisioning_uri=uri)


def check_code(user: User, code: str, *, now: datetime) -> bool:
    """True for a current code not used before; remembers the step so it cannot be replayed."""
    if not user.totp_secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    step = totp.timecode(now)
    for counter in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(counter), code):
            if user.totp_last_counter is not None and counter <= user.totp_last_counter:
                return False
            user.totp_last_counter = counter
            return True
    return False


def confirm(
    session: Session, *, principal: Principal, user: User, code: str, now: datetime
) -> None:
    if enrolled(user):
        raise Conflict("TOTP is already set up for this account")
    if not user.totp_secret:
        raise Invalid("start TOTP enrolment first", field="code")
    if not check_code(user, code, now=now):
        raise Invalid("the code is not valid", field="code")
    user.totp_enabled_at = now
    audit.record(
        session,
        principal=principal,
        action="totp.confirm",
        record_type="user",
        record_id=user.id,
        at=now,
    )

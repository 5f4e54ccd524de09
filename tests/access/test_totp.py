"""TOTP secrets are stored sealed under the key file's master key, bound to their user."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access import totp
from openem.access.models import Role, User
from openem.access.principal import SYSTEM
from openem.crypto.envelope import EnvelopeError, KeyRing, generate_keyring
from tests.support import factories

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def keyring() -> KeyRing:
    return generate_keyring()


def _enrolled(session: Session, keyring: KeyRing) -> tuple[User, str]:
    user = factories.user(session, Role.supervisor)
    secret = totp.enrol(session, principal=SYSTEM, user=user, now=NOW, keyring=keyring).secret
    code = pyotp.TOTP(secret).at(NOW)
    totp.confirm(session, principal=SYSTEM, user=user, code=code, now=NOW, keyring=keyring)
    return user, secret


def _wrong_code(secret: str) -> str:
    """A code valid at none of the steps :func:`totp.check_code` accepts around NOW."""
    generator = pyotp.TOTP(secret)
    step = generator.timecode(NOW)
    valid = {generator.generate_otp(step + offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def test_the_secret_is_stored_sealed_and_codes_check_against_it(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        user, secret = _enrolled(session, keyring)
        user_id = user.id
    with sessions() as session, session.begin():
        stored = session.scalar(select(User.totp_secret).where(User.id == user_id))
        assert stored is not None and stored.startswith(totp.SEALED)
        assert secret not in stored
        user = session.get_one(User, user_id)
        later = NOW.replace(minute=1)
        assert totp.check_code(user, pyotp.TOTP(secret).at(later), now=later, keyring=keyring)


def test_a_sealed_secret_opens_only_for_its_own_user_and_key(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        owner, secret = _enrolled(session, keyring)
        other = factories.user(session, Role.supervisor)
        other.totp_secret = owner.totp_secret  # copied across in the database
        with pytest.raises(EnvelopeError):
            totp.check_code(other, pyotp.TOTP(secret).at(NOW), now=NOW, keyring=keyring)
        with pytest.raises(EnvelopeError):
            totp.secret_of(owner, generate_keyring())
        assert totp.secret_of(owner, keyring) == secret


def test_a_secret_stored_in_the_clear_still_works_and_is_sealed_at_its_first_use(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        user = factories.user(session, Role.supervisor)
        secret = pyotp.random_base32()
        user.totp_secret, user.totp_enabled_at = secret, NOW  # as an earlier version stored it
        assert not totp.check_code(user, _wrong_code(secret), now=NOW, keyring=keyring)
        assert user.totp_secret == secret  # a wrong code changes nothing
        assert totp.check_code(user, pyotp.TOTP(secret).at(NOW), now=NOW, keyring=keyring)
        assert user.totp_secret.startswith(totp.SEALED)
        assert totp.secret_of(user, keyring) == secret


def test_resealing_puts_every_secret_under_the_primary_key(
    sessions: sessionmaker[Session], keyring: KeyRing
) -> None:
    with sessions() as session, session.begin():
        sealed_user, sealed_secret = _enrolled(session, keyring)
        clear_user = factories.user(session, Role.police)
        clear_user.totp_secret = clear_secret = pyotp.random_base32()
        rotated = keyring.rotated()
        assert totp.secrets_not_under(session, keyring=rotated) == 2
        assert totp.reseal_secrets(session, keyring=rotated) == 2
        assert totp.secrets_not_under(session, keyring=rotated) == 0
        assert totp.reseal_secrets(session, keyring=rotated) == 0
        only_new = rotated.without(keyring.primary)
        assert totp.secret_of(sealed_user, only_new) == sealed_secret
        assert totp.secret_of(clear_user, only_new) == clear_secret
